//! Executes a `Plan` on the nodes through a transport, checking each action's
//! precondition first and reporting progress through a trait. I/O. (Comes with `mirrorset apply`.)
