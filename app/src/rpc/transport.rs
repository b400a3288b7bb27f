//! RPC middleware for what depends on the transport rather than on a method.
//!
//! jsonrpsee answers a subscription method called over HTTP with a bare "Internal error"
//! (-32603), which reads like a node fault. [`SubscriptionsNeedWs`] turns that answer into a
//! clear one: the method exists and needs a WebSocket connection. Inside an HTTP batch the
//! library's own answer is left as it is (batches bypass per-call middleware).
//!
//! The layer runs on WebSocket connections too; there the bare answer cannot occur, because
//! `pubsub::subscribe` answers every refusal with `reject` before it accepts (an `Err` returned
//! before accepting is what jsonrpsee turns into the bare answer). Keep it that way.

use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use jsonrpsee::server::MethodResponse;
use jsonrpsee::types::{ErrorObject, Request};

/// JSON-RPC code of the answer (geth answers this case with -32601 as well).
pub const NEEDS_WS_CODE: i32 = -32601;

/// Layer adding [`SubscriptionsNeedWs`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SubscriptionsNeedWsLayer;

impl<S> tower::Layer<S> for SubscriptionsNeedWsLayer {
    type Service = SubscriptionsNeedWs<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SubscriptionsNeedWs { inner }
    }
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct SubscriptionsNeedWs<S> {
    inner: S,
}

fn is_subscription_method(name: &str) -> bool {
    matches!(name, "eth_subscribe" | "eth_unsubscribe")
}

impl<S> RpcServiceT for SubscriptionsNeedWs<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse> + Send + Sync + Clone + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let inner = self.inner.clone();
        let subscription = is_subscription_method(request.method_name())
            .then(|| (request.method_name().to_owned(), request.id().into_owned()));
        async move {
            let response = inner.call(request).await;
            let Some((name, id)) = subscription else {
                return response;
            };
            // Only the library's own bare answer: our handlers' internal errors carry a reason.
            let bare_internal = response.as_error_code()
                == Some(jsonrpsee::types::ErrorCode::InternalError.code())
                && response
                    .as_json()
                    .get()
                    .contains(r#""message":"Internal error""#);
            if bare_internal {
                return MethodResponse::error(
                    id,
                    ErrorObject::owned(
                        NEEDS_WS_CODE,
                        format!("{name} needs a WebSocket connection (ws://, same port)"),
                        None::<()>,
                    ),
                );
            }
            response
        }
    }

    fn batch<'a>(
        &self,
        requests: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        self.inner.batch(requests)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.inner.notification(n)
    }
}
