//! The Igratech feed: the [`feedwire_igratech`] crate (re-exported whole) plus [`connect`], the one call that gives a running
//! connection (nothing to subscribe: the server pushes).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use feedwire::igratech::{self, Event};
//!
//! let config = igratech::Config::default().with_token("my-token");
//! let mut feed = igratech::connect(config).start()?;
//! while let Some(event) = feed.next_event().await {
//!     println!("{event:?}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The sans-IO path: drive a [`Client`] yourself, as the [`feedwire_igratech`] docs show.

pub use feedwire_igratech::*;

/// Starts describing a connection: [`start`](Connect::start) it.
pub fn connect(config: Config) -> Connect {
    crate::SessionConnect::new(Client::new(config))
}

/// A connection to start ([`connect`]).
pub type Connect = crate::SessionConnect<Client>;
