//! SHIM
pub mod config;
/// shim
pub fn build_grpc(_c: &config::OtlpExporterConfig, ctx: &crate::component::BuildContext) -> Result<std::sync::Arc<dyn crate::consumer::Consumer>, crate::component::BuildError> {
    Err(crate::component::BuildError::Invalid { id: ctx.id.clone(), message: "SHIM".into() })
}
/// shim
pub fn build_http(_c: &config::OtlpHttpExporterConfig, ctx: &crate::component::BuildContext) -> Result<std::sync::Arc<dyn crate::consumer::Consumer>, crate::component::BuildError> {
    Err(crate::component::BuildError::Invalid { id: ctx.id.clone(), message: "SHIM".into() })
}
