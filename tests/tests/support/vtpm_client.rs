//! A TPM 1.2 client over a started vtpm's engine that saves the engine's state after each
//! command, as the image's service does; shared by the persistence and migration tests.

use tpm12::testing::client::Client;
use vtpm::engine::Engine;
use vtpm::service::{Lines, Output, StateSink};

/// Runs `f` with a client whose commands go to `engine`; a changed state image goes to `sink`
/// (over `hv`) before the response returns, and what the sink says is appended to `lines`.
pub fn with_saving_client<E: Engine, X, S: StateSink<X>, R>(
    engine: &mut E,
    sink: &mut S,
    hv: &mut X,
    lines: &mut Vec<String>,
    seed: u64,
    f: impl FnOnce(&mut Client) -> R,
) -> R {
    let mut out = Lines::default();
    let r = {
        let mut client = Client::new(
            |cmd: &[u8]| {
                let resp = engine.execute(0, cmd);
                if let Some(image) = engine.take_image_if_changed() {
                    sink.save(hv, &image, &mut out as &mut dyn Output);
                }
                resp
            },
            seed,
        );
        f(&mut client)
    };
    lines.extend(out.0);
    r
}
