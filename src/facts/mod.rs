//! Gathers what is really on every node, concurrently (`gather`, I/O), and
//! parses it (`parse`: pg_hba, conf files, pg_controldata; pure). (Comes with node access.)
