package postgres

// rulesDDL creates the tables of rules, drop records and saved queries.
var rulesDDL = []string{}
