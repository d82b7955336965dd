//! Errors of the key encoding.

use std::fmt::Display;

use thiserror::Error;

/// Result alias for keycode operations.
pub type Result<T> = std::result::Result<T, KeycodeError>;

/// Why a value could not be encoded or decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeycodeError {
    /// The type has no order-preserving encoding here (e.g. maps). A bug in
    /// the caller's key type.
    #[error("keycode cannot encode {0}")]
    Unsupported(&'static str),
    /// The input ended in the middle of a value: a truncated or foreign key.
    #[error("keycode input ended early")]
    Eof,
    /// The input is not a valid encoding: a corrupt or foreign key.
    #[error("invalid keycode at byte {offset}: {reason}")]
    Invalid {
        /// Byte offset in the input.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A custom error raised by a Serialize/Deserialize implementation.
    #[error("keycode: {0}")]
    Custom(String),
}

impl serde::ser::Error for KeycodeError {
    fn custom<T: Display>(msg: T) -> Self {
        KeycodeError::Custom(msg.to_string())
    }
}

impl serde::de::Error for KeycodeError {
    fn custom<T: Display>(msg: T) -> Self {
        KeycodeError::Custom(msg.to_string())
    }
}
