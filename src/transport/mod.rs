//! The one way mirrorset touches a node: run a program, read and atomically
//! write files, over SSH or locally. I/O. (Comes with node access.)
