package api_test

// testIterations is the PBKDF2 count of the password hashes these tests make
// and the floor their nodes hold new hashes to: every test logs in, changes
// passwords and creates accounts, and what they check does not depend on the
// count. It reaches the node as an explicit option (node.Options and
// InitOptions.PasswordIterations), which a production binary refuses below
// sm.PasswordIterations (identity.Hashing.Check).
const testIterations = 1_000
