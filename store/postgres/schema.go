package postgres

// coreDDL creates the tables of feeds, items, rules and saved queries.
var coreDDL = []string{}
