//! Why a decision service gave no usable answer. Each is an error for the rule's `on_error`;
//! none names the service's URL, which is a secret.

/// A failed ask.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AskError {
    /// No complete answer within the service's `timeout`.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The request could not be sent or its answer not read (connection refused, TLS).
    #[error("{0}")]
    Transport(String),
    /// A redirect, which is never followed.
    #[error("the service answered {0}, a redirect, which is not followed")]
    Redirect(u16),
    /// Any other status but 2xx.
    #[error("the service answered {0}")]
    Status(u16),
    /// The body went on past the limit; reading stopped there.
    #[error("the answer is over {} KiB", super::MAX_ANSWER_BYTES / 1024)]
    TooLarge,
    /// The body is not an answer of the service's format.
    #[error("not a valid answer: {0}")]
    Invalid(String),
}
