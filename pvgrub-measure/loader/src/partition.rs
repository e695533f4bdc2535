//! Partition tables, read as GRUB numbers them: the MBR (four primary slots numbered 1–4,
//! logical partitions of an extended partition numbered from 5 along the EBR chain) and the
//! GPT (UEFI spec, "GUID Partition Table": header at LBA 1, its CRC32 and the entry array's
//! CRC32 checked, the backup header at the last LBA used when the primary is damaged;
//! entries numbered from 1 by slot). A disk with neither is one whole-disk volume.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use vtpm_store::{BlockDevice, SECTOR_SIZE};

use crate::error::LoadError;

/// Which kind of table a partition comes from (GRUB 2's `msdos`/`gpt` partmap names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// MBR ("msdos").
    Msdos,
    /// GPT.
    Gpt,
}

impl TableKind {
    /// GRUB 2's name: `msdos` or `gpt`.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Msdos => "msdos",
            TableKind::Gpt => "gpt",
        }
    }
}

/// One partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// GRUB 2's number (1-based; logical MBR partitions start at 5).
    pub number: u32,
    /// The table it is in.
    pub kind: TableKind,
    /// First sector.
    pub start_lba: u64,
    /// Length in sectors.
    pub sectors: u64,
}

/// The disk's partitions (empty with `kind == None`: no table, the whole disk is one volume).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionTable {
    pub kind: Option<TableKind>,
    pub partitions: Vec<Partition>,
}

/// MBR partition types of an extended partition (DOS, Windows LBA, Linux).
const EXTENDED_TYPES: [u8; 3] = [0x05, 0x0f, 0x85];
/// The protective MBR type of a GPT disk.
const GPT_PROTECTIVE: u8 = 0xee;
/// Longest EBR chain followed (a loop in a damaged chain stops here).
const MAX_LOGICAL: u32 = 128;
/// Most GPT entries read (the usual array has 128).
const MAX_GPT_ENTRIES: u32 = 1024;
const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";

fn read_sector<D: BlockDevice + ?Sized>(disk: &mut D, lba: u64) -> Result<[u8; SECTOR_SIZE], LoadError> {
    let mut buf = [0u8; SECTOR_SIZE];
    disk.read(lba, &mut buf)?;
    Ok(buf)
}

fn le32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

fn le64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// One 16-byte MBR slot.
#[derive(Clone, Copy)]
struct MbrSlot {
    kind: u8,
    start: u64,
    sectors: u64,
}

fn mbr_slots(sector: &[u8; SECTOR_SIZE]) -> [MbrSlot; 4] {
    core::array::from_fn(|i| {
        let e = &sector[446 + 16 * i..446 + 16 * (i + 1)];
        MbrSlot { kind: e[4], start: u64::from(le32(e, 8)), sectors: u64::from(le32(e, 12)) }
    })
}

fn has_boot_signature(sector: &[u8; SECTOR_SIZE]) -> bool {
    sector[510] == 0x55 && sector[511] == 0xaa
}

/// Reads the partition table of `disk`.
pub fn read_partitions<D: BlockDevice + ?Sized>(disk: &mut D) -> Result<PartitionTable, LoadError> {
    let mbr = read_sector(disk, 0)?;
    if !has_boot_signature(&mbr) {
        return Ok(PartitionTable { kind: None, partitions: Vec::new() });
    }
    let slots = mbr_slots(&mbr);
    if slots.iter().any(|s| s.kind == GPT_PROTECTIVE) {
        return read_gpt(disk).map(|partitions| PartitionTable { kind: Some(TableKind::Gpt), partitions });
    }
    // A boot sector with the signature but no valid slots (a file system's own boot block)
    // is not a partition table.
    let total = disk.sectors();
    let mut partitions = Vec::new();
    let mut extended: Option<MbrSlot> = None;
    for (i, s) in slots.iter().enumerate() {
        if s.kind == 0 || s.sectors == 0 {
            continue;
        }
        if s.start.saturating_add(s.sectors) > total {
            return Err(LoadError::BadMbr(format!(
                "partition {} (sectors {}..{}) extends past the end of the disk ({} sectors)",
                i + 1,
                s.start,
                s.start + s.sectors,
                total
            )));
        }
        if EXTENDED_TYPES.contains(&s.kind) {
            if extended.is_some() {
                return Err(LoadError::BadMbr("two extended partitions".into()));
            }
            extended = Some(*s);
            continue;
        }
        partitions.push(Partition {
            number: i as u32 + 1,
            kind: TableKind::Msdos,
            start_lba: s.start,
            sectors: s.sectors,
        });
    }
    if let Some(ext) = extended {
        read_logical(disk, ext, total, &mut partitions)?;
    }
    Ok(PartitionTable { kind: Some(TableKind::Msdos), partitions })
}

/// Follows the EBR chain of the extended partition `ext`: each EBR's first slot is a logical
/// partition (relative to that EBR), its second slot the next EBR (relative to `ext`).
fn read_logical<D: BlockDevice + ?Sized>(
    disk: &mut D,
    ext: MbrSlot,
    total: u64,
    out: &mut Vec<Partition>,
) -> Result<(), LoadError> {
    let mut ebr_lba = ext.start;
    let mut number = 5;
    for _ in 0..MAX_LOGICAL {
        let ebr = read_sector(disk, ebr_lba)?;
        if !has_boot_signature(&ebr) {
            return Err(LoadError::BadMbr(format!("extended boot record at sector {ebr_lba} has no 55 AA signature")));
        }
        let slots = mbr_slots(&ebr);
        let (part, next) = (slots[0], slots[1]);
        if part.kind != 0 && part.sectors != 0 {
            let start = ebr_lba.saturating_add(part.start);
            if start.saturating_add(part.sectors) > ext.start + ext.sectors || start + part.sectors > total {
                return Err(LoadError::BadMbr(format!(
                    "logical partition {number} (sectors {start}..{}) is outside its extended partition",
                    start + part.sectors
                )));
            }
            out.push(Partition { number, kind: TableKind::Msdos, start_lba: start, sectors: part.sectors });
            number += 1;
        }
        if next.kind == 0 || next.sectors == 0 {
            return Ok(());
        }
        let next_lba = ext.start.saturating_add(next.start);
        if next_lba <= ebr_lba || next_lba >= ext.start + ext.sectors {
            return Err(LoadError::BadMbr(format!(
                "extended boot record chain goes backwards or out at sector {next_lba}"
            )));
        }
        ebr_lba = next_lba;
    }
    Err(LoadError::BadMbr(format!("more than {MAX_LOGICAL} logical partitions (a loop in the chain?)")))
}

fn crc32(bytes: &[u8]) -> u32 {
    crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(bytes)
}

/// Reads the primary GPT, or the backup one when the primary is damaged.
fn read_gpt<D: BlockDevice + ?Sized>(disk: &mut D) -> Result<Vec<Partition>, LoadError> {
    let total = disk.sectors();
    let primary = read_gpt_at(disk, 1, total);
    match primary {
        Ok(p) => Ok(p),
        Err(primary_err) => {
            let last = total.saturating_sub(1);
            match read_gpt_at(disk, last, total) {
                Ok(p) => {
                    log::warn!(
                        "GPT: primary header damaged ({}); using the backup at sector {last}",
                        gpt_reason(primary_err)
                    );
                    Ok(p)
                }
                Err(backup_err) => Err(LoadError::BadGpt(format!(
                    "primary header: {}; backup header: {}",
                    gpt_reason(primary_err),
                    gpt_reason(backup_err)
                ))),
            }
        }
    }
}

/// The reason inside a GPT error, without the "bad GPT" prefix.
fn gpt_reason(e: LoadError) -> alloc::string::String {
    match e {
        LoadError::BadGpt(m) => m,
        other => alloc::string::ToString::to_string(&other),
    }
}

fn read_gpt_at<D: BlockDevice + ?Sized>(disk: &mut D, lba: u64, total: u64) -> Result<Vec<Partition>, LoadError> {
    if lba == 0 || lba >= total {
        return Err(LoadError::BadGpt(format!("sector {lba} is not on the disk")));
    }
    let hdr = read_sector(disk, lba)?;
    if &hdr[0..8] != GPT_SIGNATURE {
        return Err(LoadError::BadGpt(format!("no \"EFI PART\" signature at sector {lba}")));
    }
    let header_size = le32(&hdr, 12) as usize;
    if !(92..=SECTOR_SIZE).contains(&header_size) {
        return Err(LoadError::BadGpt(format!("header size {header_size} is out of range")));
    }
    let stored_crc = le32(&hdr, 16);
    let mut copy = hdr;
    copy[16..20].fill(0);
    let crc = crc32(&copy[..header_size]);
    if crc != stored_crc {
        return Err(LoadError::BadGpt(format!("header CRC32 mismatch (stored {stored_crc:08x}, computed {crc:08x})")));
    }
    if le64(&hdr, 24) != lba {
        return Err(LoadError::BadGpt(format!("header at sector {lba} says it is at sector {}", le64(&hdr, 24))));
    }
    let entries_lba = le64(&hdr, 72);
    let count = le32(&hdr, 80);
    let entry_size = le32(&hdr, 84) as usize;
    let entries_crc = le32(&hdr, 88);
    if count > MAX_GPT_ENTRIES || !(128..=4096).contains(&entry_size) || !entry_size.is_power_of_two() {
        return Err(LoadError::BadGpt(format!("{count} entries of {entry_size} bytes is out of range")));
    }
    let bytes = count as usize * entry_size;
    let sectors = bytes.div_ceil(SECTOR_SIZE) as u64;
    if entries_lba == 0 || entries_lba.saturating_add(sectors) > total {
        return Err(LoadError::BadGpt(format!("entry array at sector {entries_lba} is not on the disk")));
    }
    let mut array = vec![0u8; sectors as usize * SECTOR_SIZE];
    disk.read(entries_lba, &mut array)?;
    let crc = crc32(&array[..bytes]);
    if crc != entries_crc {
        return Err(LoadError::BadGpt(format!(
            "entry array CRC32 mismatch (stored {entries_crc:08x}, computed {crc:08x})"
        )));
    }
    let mut out = Vec::new();
    for i in 0..count as usize {
        let e = &array[i * entry_size..(i + 1) * entry_size];
        if e[0..16].iter().all(|&b| b == 0) {
            continue;
        }
        let (first, last) = (le64(e, 32), le64(e, 40));
        if last < first || last >= total {
            return Err(LoadError::BadGpt(format!(
                "partition {} (sectors {first}..={last}) is outside the disk ({total} sectors)",
                i + 1
            )));
        }
        out.push(Partition { number: i as u32 + 1, kind: TableKind::Gpt, start_lba: first, sectors: last - first + 1 });
    }
    Ok(out)
}
