//! The services an `ackor node` process runs, shared with the tests that drive such
//! processes from outside.

pub mod services;
