//! The secret-leak check: the secrets a run knows, by kind, and the scanner
//! that searches text for them.
//!
//! - `book`: the secrets, by kind.
//! - `scanner`: matching secrets in text, and the rules for numbers that
//!   only look like secrets.

pub mod book;
pub mod scanner;

pub use book::{SecretBook, SecretKind};
pub use scanner::{Codes, Format, LeakScanner};
