//! Fuzz target: pvgrub-loader's config readers never panic on any text. Byte 0 picks the
//! reader: even = GRUB 2 `grub.cfg` (`grub_script::parse`, then `grub_cfg::find_entry` with a
//! `search --fs-uuid` that knows one UUID), odd = GRUB legacy `menu.lst`; the rest is the
//! config. Whatever entry comes out names an absolute path, and its device is one the names
//! could have said.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvgrub_loader::grub_path::Device;
use pvgrub_loader::partition::TableKind;
use pvgrub_loader::{Volumes, grub_cfg, grub_script, menu_lst};

struct OneUuid;

impl Volumes for OneUuid {
    fn find_fs_uuid(&mut self, uuid: &str) -> Option<Device> {
        (uuid == "0f3c5d2e-6a1b-4c7d-9e8f-112233445566").then_some(Device::Partition { number: 2, table: Some(TableKind::Msdos) })
    }
}

const ROOT: Device = Device::Partition { number: 1, table: Some(TableKind::Msdos) };

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let entry = if mode % 2 == 0 {
        let _ = grub_script::parse(&text);
        grub_cfg::find_entry(&text, ROOT, "/boot/grub/grub.cfg", &mut OneUuid)
    } else {
        menu_lst::find_entry(&text, ROOT)
    };
    if let Ok(e) = entry {
        assert!(e.kernel.path.starts_with('/'), "kernel path {:?}", e.kernel.path);
        if let Some(i) = &e.initrd {
            assert!(i.path.starts_with('/'));
        }
        for d in [Some(&e.kernel), e.initrd.as_ref()].into_iter().flatten() {
            if let Device::Partition { number, .. } = d.device {
                assert!(number >= 1);
            }
        }
        let _ = e.to_owned();
    }
});
