// Package node runs one cxt appliance node: it creates data folders (init,
// join), holds the node sealed until the master key is given, then starts
// replication and the document store, and serves the HTTPS business listener
// and the local operator socket.
package node
