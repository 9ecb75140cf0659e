// Package energy audits the electricity used for mining, per site: which
// site a worker belongs to (Sites), the energy its accepted work implies
// with a 95 % interval (Estimate), the closed-hour records chained by
// SHA-256 and signed with Ed25519 (Record, Chain, Verify), meter readings
// set beside the estimate (ParseMeter), curtailment requests checked
// against work per minute (CurtailReport), and the report that joins them.
//
// The figures themselves are written by the share store's batch script
// (share/redisstore, energy_script.go), with the share batches: nothing
// here runs per share. docs/energy.md states the formulas, units and
// assumptions.
package energy
