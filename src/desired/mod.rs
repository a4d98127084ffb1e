//! Computes, from a `Cluster` alone, what each node should hold: its role,
//! mirrorset.conf, the pg_hba block, the role and slots. Pure. (Comes with `mirrorset plan`.)
