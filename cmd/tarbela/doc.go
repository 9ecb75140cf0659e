// Command tarbela is the Tarbela mining pool daemon.
//
//	tarbela run -config FILE       run a pool node
//	tarbela devnet [flags]         run a local regtest devnet: btcd, Redis, the pool, CPU miners
//	tarbela config check FILE      validate a config file
//	tarbela share verify [flags]   rebuild one share exactly as the pool judges it
package main
