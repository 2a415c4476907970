package postgres

// coordDDL creates what poller coordination (leases, host slots) needs.
var coordDDL = []string{}
