//! The landing page and its assets, embedded in the binary from `assets/`.

use poem::endpoint::EmbeddedFileEndpoint;
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "assets/"]
pub struct Assets;

/// The landing page, `assets/index.html`.
pub fn index() -> EmbeddedFileEndpoint<Assets> {
    EmbeddedFileEndpoint::<Assets>::new("index.html")
}
