//! An authorizer from the application's own async function (pusher-js's `customHandler`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use feedwire_pusher::authorizer::{AuthError, ChannelAuthRequest};
use feedwire_pusher::client::{ChannelAuth, UserAuth};
use feedwire_pusher::{Client, Event};
use feedwire_tungstenite::{Hook, Jobs};

use super::jobs::{self, Verdicts};

type UserFn =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<UserAuth, AuthError>> + Send>> + Send + Sync>;

/// A [`Hook`] that answers each `AuthRequired` with the application's async function (and, with
/// [`with_user_auth`](CustomAuthorizer::with_user_auth), each `UserAuthRequired`); the connection keeps going
/// while it runs. Made by [`custom_authorizer`].
pub struct CustomAuthorizer<F> {
    f: Arc<F>,
    user: Option<UserFn>,
}

impl<F> std::fmt::Debug for CustomAuthorizer<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomAuthorizer")
            .field("user_auth", &self.user.is_some())
            .finish()
    }
}

/// Wraps `f` as an authorizer: it gets the socket id and the channel and returns the authorization (sign it
/// locally, ask a service, ...). In the blocking driver it runs on a thread of its own with a current-thread
/// tokio runtime.
///
/// ```no_run
/// use feedwire::pusher::{self, Config, authorizer::{AuthError, ChannelAuthRequest}, client::ChannelAuth};
///
/// let authorizer = pusher::custom_authorizer(|req: ChannelAuthRequest| async move {
///     // e.g. sign with the app secret held by this program (feedwire_pusher::auth)
///     let sig = format!("key:signature-of-{}-{}", req.socket_id, req.channel);
///     Ok::<_, AuthError>(ChannelAuth::new(sig))
/// });
/// let feed = pusher::connect(Config::new("key")).channel("private-a").authorizer(authorizer);
/// # drop(feed);
/// ```
pub fn custom_authorizer<F, Fut>(f: F) -> CustomAuthorizer<F>
where
    F: Fn(ChannelAuthRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ChannelAuth, AuthError>> + Send + 'static,
{
    CustomAuthorizer {
        f: Arc::new(f),
        user: None,
    }
}

impl<F> CustomAuthorizer<F> {
    /// Also answers user sign-in (`pusher:signin`) with `g`, given the socket id.
    pub fn with_user_auth<G, Gut>(mut self, g: G) -> Self
    where
        G: Fn(String) -> Gut + Send + Sync + 'static,
        Gut: Future<Output = Result<UserAuth, AuthError>> + Send + 'static,
    {
        self.user = Some(Arc::new(move |s| Box::pin(g(s))));
        self
    }
}

impl<F, Fut> Hook<Client> for CustomAuthorizer<F>
where
    F: Fn(ChannelAuthRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ChannelAuth, AuthError>> + Send + 'static,
{
    fn on_event(&mut self, _: &mut Client, event: Event, jobs: &mut Jobs<Client>) -> Option<Event> {
        match event {
            Event::AuthRequired { socket_id, channel } => {
                let socket_id = socket_id.to_string();
                let placeholder = Verdicts::Channels {
                    socket_id: socket_id.clone(),
                    verdicts: vec![(channel.clone(), Err(AuthError::Refused(String::new())))],
                };
                let fut = (self.f)(ChannelAuthRequest::new(socket_id.clone(), channel.clone()));
                jobs::spawn(jobs, placeholder, async move {
                    let verdict = fut.await;
                    Verdicts::Channels {
                        socket_id,
                        verdicts: vec![(channel, verdict)],
                    }
                });
                None
            }
            Event::UserAuthRequired { socket_id } => {
                let Some(user) = &self.user else {
                    return Some(Event::UserAuthRequired { socket_id });
                };
                let socket_id = socket_id.to_string();
                let fut = user(socket_id.clone());
                let placeholder = Verdicts::User {
                    socket_id: socket_id.clone(),
                    verdict: Err(AuthError::Refused(String::new())),
                };
                jobs::spawn(jobs, placeholder, async move {
                    Verdicts::User {
                        socket_id,
                        verdict: fut.await,
                    }
                });
                None
            }
            other => Some(other),
        }
    }
}
