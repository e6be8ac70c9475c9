//! How the CLI reaches a running server: one [`ClientOptions`] value (token, CA) passed to
//! every command, and the channels built from it.

use crate::grpc::pb::authorization_service_client::AuthorizationServiceClient;
use crate::grpc::pb::event_service_client::EventServiceClient;
use crate::grpc::pb::policy_admin_service_client::PolicyAdminServiceClient;
use anyhow::Context;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

/// What every client call of one command carries: the bearer token and the CA to trust.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// `Bearer …`, ready for the `authorization` header. Never printed.
    authorization: Option<MetadataValue<Ascii>>,
    /// The CA certificate (PEM) for https:// URLs.
    tls_ca: Option<String>,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("token", &self.authorization.as_ref().map(|_| "<redacted>"))
            .field("tls_ca", &self.tls_ca.is_some())
            .finish()
    }
}

impl ClientOptions {
    /// From the global `--token` and `--tls-ca` flags.
    pub fn new(token: Option<&str>, tls_ca: Option<&std::path::Path>) -> anyhow::Result<ClientOptions> {
        let authorization = match token {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse()
                    .context("the token must be printable ASCII")?,
            ),
            None => None,
        };
        let tls_ca = match tls_ca {
            Some(p) => Some(std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?),
            None => None,
        };
        Ok(ClientOptions { authorization, tls_ca })
    }

    async fn channel(&self, url: &str, what: &str) -> anyhow::Result<Authed> {
        let mut endpoint = Channel::from_shared(url.to_string()).with_context(|| format!("{url:?} is not a URL"))?;
        if let Some(ca) = &self.tls_ca {
            let tls =
                tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(ca));
            endpoint = endpoint.tls_config(tls).context("TLS configuration")?;
        }
        let ch = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot reach the {what} at {url}"))?;
        let bearer = Bearer(self.authorization.clone());
        Ok(tonic::service::interceptor::InterceptedService::new(ch, bearer))
    }

    pub async fn admin(&self, url: &str) -> anyhow::Result<PolicyAdminServiceClient<Authed>> {
        Ok(PolicyAdminServiceClient::new(self.channel(url, "admin API").await?))
    }

    pub async fn events(&self, url: &str) -> anyhow::Result<EventServiceClient<Authed>> {
        Ok(EventServiceClient::new(self.channel(url, "admin API").await?)
            .max_encoding_message_size(crate::startup::MAX_MESSAGE_BYTES))
    }

    pub async fn decisions(&self, url: &str) -> anyhow::Result<AuthorizationServiceClient<Authed>> {
        Ok(AuthorizationServiceClient::new(
            self.channel(url, "decision API").await?,
        ))
    }
}

/// Adds `authorization: Bearer …` to every call when a token was given.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// A channel whose calls carry the token.
pub type Authed = tonic::service::interceptor::InterceptedService<Channel, Bearer>;
