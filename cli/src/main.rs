//! `b8g`: the command-line front end, thin over the b8g libraries.
fn main() {}
