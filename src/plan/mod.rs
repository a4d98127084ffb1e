//! Compares observed facts with the desired state into a `Plan`: ordered
//! actions, each with a reason and a precondition. Pure. (Comes with `mirrorset plan`.)
