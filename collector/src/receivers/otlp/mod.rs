//! SHIM
pub mod config;
use crate::component::{BuildContext, BuildError};
use super::ReceiverOutputs;
/// shim
pub async fn start(_c: &config::OtlpReceiverConfig, _o: ReceiverOutputs, ctx: &BuildContext) -> Result<Vec<tokio::task::JoinHandle<()>>, BuildError> {
    Err(BuildError::Invalid { id: ctx.id.clone(), message: "SHIM".into() })
}
