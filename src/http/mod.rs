//! What every request passes through, and the routes that are not part of an API area:
//! the health check, the OpenAPI document, the Swagger UI and the landing page.

pub mod body;
pub mod connection;
pub mod edge;
pub mod health;
pub mod rate;
pub mod server;
pub mod web;
