//! The HTTP floor every area shares: problem+json errors, body and header extractors,
//! pagination, the operational endpoints, request metrics and the OpenAPI document.
pub mod body;
pub mod csv;
pub mod error;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod paging;
pub mod precondition;

pub use error::{parse_json, ApiError, ApiJson, ApiQuery, ApiResult, Problem};
