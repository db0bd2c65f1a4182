//! Running an authorizer's work beside the connection, in either driver, and applying its verdicts.

use std::future::Future;
use std::time::Instant;

use feedwire_pusher::Client;
use feedwire_pusher::authorizer::AuthError;
use feedwire_pusher::client::{ChannelAuth, UserAuth};
use feedwire_tungstenite::Jobs;

/// What an authorizer's work came to.
pub(crate) enum Verdicts {
    /// For the channels of one socket.
    Channels {
        socket_id: String,
        verdicts: Vec<(String, Result<ChannelAuth, AuthError>)>,
    },
    /// For the user of one socket.
    User {
        socket_id: String,
        verdict: Result<UserAuth, AuthError>,
    },
}

impl Verdicts {
    /// The same error for everything asked.
    pub(crate) fn all_failed(&self, e: &AuthError) -> Verdicts {
        match self {
            Verdicts::Channels { socket_id, verdicts } => Verdicts::Channels {
                socket_id: socket_id.clone(),
                verdicts: verdicts
                    .iter()
                    .map(|(c, _)| (c.clone(), Err(e.clone())))
                    .collect(),
            },
            Verdicts::User { socket_id, .. } => Verdicts::User {
                socket_id: socket_id.clone(),
                verdict: Err(e.clone()),
            },
        }
    }

    /// Answers the session. An answer for a socket that is gone is dropped: the session asks again for the
    /// new socket.
    pub(crate) fn apply(self, client: &mut Client) {
        match self {
            Verdicts::Channels { socket_id, verdicts } => {
                if client.socket_id() != Some(socket_id.as_str()) {
                    return;
                }
                for (channel, verdict) in verdicts {
                    let refused = match verdict {
                        Ok(auth) => client.provide_auth(&channel, auth).err().map(|e| e.to_string()),
                        Err(e) => Some(e.to_string()),
                    };
                    if let Some(reason) = refused {
                        // not pending any more (unsubscribed meanwhile) is fine to ignore
                        let _ = client.fail_auth(&channel, &reason);
                    }
                }
            }
            Verdicts::User { socket_id, verdict } => {
                if client.socket_id() != Some(socket_id.as_str()) {
                    return;
                }
                let ok = match verdict {
                    Ok(auth) => client.provide_user_auth(auth).is_ok(),
                    Err(_) => false,
                };
                if !ok {
                    let _ = client.fail_user_auth();
                }
            }
        }
    }
}

/// Runs `work` beside the connection: on the driver's own tokio runtime in the async driver, on a thread with
/// a current-thread tokio runtime in the blocking one. `placeholder` says what was asked, for the verdicts
/// when the work cannot run at all.
pub(crate) fn spawn<F>(jobs: &mut Jobs<Client>, placeholder: Verdicts, work: F)
where
    F: Future<Output = Verdicts> + Send + 'static,
{
    if jobs.is_blocking_driver() {
        jobs.spawn_blocking(move || {
            let verdicts = match tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .enable_io()
                .build()
            {
                Ok(rt) => rt.block_on(work),
                Err(e) => {
                    placeholder.all_failed(&AuthError::Transport(format!("no runtime for the request: {e}")))
                }
            };
            move |client: &mut Client, _: Instant| verdicts.apply(client)
        });
    } else {
        drop(placeholder);
        jobs.spawn(async move {
            let verdicts = work.await;
            move |client: &mut Client, _: Instant| verdicts.apply(client)
        });
    }
}
