//! The whole load: options → config → entry → kernel and initrd files → decompressed,
//! checked PV ELF; and the measurement of what was loaded. Pure over a [`Disk`].

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use vtpm_store::BlockDevice;

use crate::boot_entry::{BootEntry, FileRef, Volumes};
use crate::bzimage::{self, KernelFile};
use crate::decompress::{Compression, decompress};
use crate::elf::{self, PvKernel};
use crate::error::LoadError;
use crate::grub_path::{Device, GrubPath};
use crate::measure::{self, Measurement, Prediction};
use crate::options::{BootSource, DEFAULT_CONFIGS};
use crate::volume::Disk;
use crate::{grub_cfg, menu_lst};

impl<D: BlockDevice + 'static> Volumes for Disk<D> {
    fn find_fs_uuid(&mut self, uuid: &str) -> Option<Device> {
        Disk::find_fs_uuid(self, uuid)
    }
}

/// A decompressed, checked kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub compression: Compression,
    /// The ELF (decompressed payload, or the file itself).
    pub elf: Vec<u8>,
    pub pv: PvKernel,
}

/// Everything loaded for one boot.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub entry: BootEntry,
    /// The config file used (`None` for `kernel=`).
    pub config: Option<FileRef>,
    /// The kernel file's bytes as on disk (what PCR 4 measures).
    pub kernel_file: Vec<u8>,
    pub initrd: Option<Vec<u8>>,
    pub kernel: Kernel,
}

impl Loaded {
    /// The three extends, in pv-grub's order.
    pub fn plan(&self) -> [Measurement; 3] {
        measure::plan(&self.kernel_file, self.entry.cmdline.as_bytes(), self.initrd.as_deref())
    }
    /// The PCR values a verifier should expect.
    pub fn prediction(&self) -> Prediction {
        measure::predict(&self.kernel_file, self.entry.cmdline.as_bytes(), self.initrd.as_deref())
    }
}

/// Parses, decompresses and checks a kernel file (pure; the fuzz target's entry).
pub fn load_kernel(file: &[u8]) -> Result<Kernel, LoadError> {
    let (compression, elf) = match bzimage::parse(file)? {
        KernelFile::Elf(e) => (Compression::None, e.to_vec()),
        KernelFile::BzImage { payload, .. } => decompress(payload)?,
    };
    let pv = elf::parse(&elf)?;
    Ok(Kernel { compression, elf, pv })
}

/// Resolves a path: its device, or the first volume holding the file.
fn locate<D: BlockDevice + 'static>(disk: &mut Disk<D>, p: &GrubPath) -> Result<FileRef, LoadError> {
    if let Some(device) = p.device {
        return Ok(FileRef { device, path: p.path.clone() });
    }
    for device in disk.volumes() {
        if disk.has_file(device, &p.path) {
            return Ok(FileRef { device, path: p.path.clone() });
        }
    }
    Err(LoadError::FileNotFound(format!("{} on no partition of the disk", p.path)))
}

fn is_legacy(path: &str) -> bool {
    path.ends_with("menu.lst") || path.ends_with("grub.conf")
}

/// Finds the boot entry (and the config it came from).
pub fn find_entry<D: BlockDevice + 'static>(
    disk: &mut Disk<D>,
    source: &BootSource,
) -> Result<(BootEntry, Option<FileRef>), LoadError> {
    let config = match source {
        BootSource::Direct { kernel, ramdisk, cmdline } => {
            let kernel = locate(disk, kernel)?;
            let initrd = ramdisk.as_ref().map(|r| locate(disk, r)).transpose()?;
            let entry = BootEntry { title: None, kernel, initrd, cmdline: cmdline.clone(), notes: Vec::new() };
            return Ok((entry, None));
        }
        BootSource::Config(Some(p)) => locate(disk, p).map_err(|e| match e {
            LoadError::FileNotFound(m) => LoadError::NoConfig(m),
            other => other,
        })?,
        BootSource::Config(None) => {
            let mut found = None;
            'outer: for device in disk.volumes() {
                for path in DEFAULT_CONFIGS {
                    if disk.has_file(device, path) {
                        found = Some(FileRef { device, path: String::from(*path) });
                        break 'outer;
                    }
                }
            }
            found.ok_or_else(|| {
                let parts = disk.volumes().len();
                LoadError::NoConfig(format!("none of {} on the disk's {parts} volume(s)", DEFAULT_CONFIGS.join(", ")))
            })?
        }
    };
    let bytes = disk.read_file(config.device, &config.path).map_err(|e| match e {
        LoadError::FileNotFound(m) => LoadError::NoConfig(m),
        other => other,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let entry = if is_legacy(&config.path) {
        menu_lst::find_entry(&text, config.device)?
    } else {
        grub_cfg::find_entry(&text, config.device, &config.path, disk)?
    };
    Ok((entry, Some(config)))
}

/// What [`read_boot_files`] found: the entry, its config, the kernel file and the initrd.
pub type BootFiles = (BootEntry, Option<FileRef>, Vec<u8>, Option<Vec<u8>>);

/// Finds the entry and reads its files (nothing is decompressed yet).
pub fn read_boot_files<D: BlockDevice + 'static>(
    disk: &mut Disk<D>,
    source: &BootSource,
) -> Result<BootFiles, LoadError> {
    let (entry, config) = find_entry(disk, source)?;
    let kernel_file = disk.read_file(entry.kernel.device, &entry.kernel.path)?;
    let initrd = match &entry.initrd {
        Some(f) => Some(disk.read_file(f.device, &f.path)?),
        None => None,
    };
    Ok((entry, config, kernel_file, initrd))
}

/// Decompresses and checks the kernel of [`read_boot_files`]' result.
pub fn finish(files: BootFiles) -> Result<Loaded, LoadError> {
    let (entry, config, kernel_file, initrd) = files;
    let kernel = load_kernel(&kernel_file).map_err(|e| e.in_file(&entry.kernel))?;
    Ok(Loaded { entry, config, kernel_file, initrd, kernel })
}

/// Finds, reads and checks everything for the boot.
pub fn load<D: BlockDevice + 'static>(disk: &mut Disk<D>, source: &BootSource) -> Result<Loaded, LoadError> {
    finish(read_boot_files(disk, source)?)
}
