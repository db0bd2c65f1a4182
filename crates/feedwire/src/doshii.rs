//! Doshii app and POS sockets: the [`feedwire_doshii`] crate (re-exported whole) plus [`connect`], the one call that gives a running
//! connection (nothing to subscribe: the server pushes).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use feedwire::doshii::{self, Event};
//!
//! let config = doshii::Config::app("my-client-id", feedwire::unix_anchor_now());
//! let mut feed = doshii::connect(config).start()?;
//! while let Some(event) = feed.next_event().await {
//!     println!("{event:?}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The sans-IO path: drive a [`Client`] yourself, as the [`feedwire_doshii`] docs show.

pub use feedwire_doshii::*;

/// Starts describing a connection: [`start`](Connect::start) it.
pub fn connect(config: Config) -> Connect {
    crate::SessionConnect::new(Client::new(config))
}

/// A connection to start ([`connect`]).
pub type Connect = crate::SessionConnect<Client>;
