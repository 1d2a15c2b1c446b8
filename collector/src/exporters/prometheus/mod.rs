//! SHIM
pub mod config;
/// shim
pub async fn build(_c: &config::PrometheusExporterConfig, ctx: &crate::component::BuildContext) -> Result<std::sync::Arc<dyn crate::consumer::Consumer>, crate::component::BuildError> {
    Err(crate::component::BuildError::Invalid { id: ctx.id.clone(), message: "SHIM".into() })
}
