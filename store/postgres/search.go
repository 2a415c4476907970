package postgres

// searchDDL creates what keyword search needs.
var searchDDL = []string{}
