//! TIS 1.2 / PTP FIFO register map and bits (fact sheet §6.1; TCG PC Client TIS 1.2 and PTP
//! specifications). Offsets are inside one locality's 4 KiB page; locality `l`'s page starts at
//! `l · 0x1000` from the TIS base (0xFED40000).

/// Size of one locality's register page.
pub const LOCALITY_STRIDE: usize = 0x1000;
/// Number of localities.
pub const NR_LOCALITIES: u8 = 5;
/// Default physical base (`TPM_BASEADDR`).
pub const TIS_BASE: u64 = 0xFED4_0000;

/// `TPM_ACCESS_x` (8 bit).
pub const ACCESS: usize = 0x000;
/// `TPM_INT_ENABLE_x` (32 bit).
pub const INT_ENABLE: usize = 0x008;
/// `TPM_INT_VECTOR_x` (8 bit).
pub const INT_VECTOR: usize = 0x00C;
/// `TPM_INT_STATUS_x` (32 bit).
pub const INT_STATUS: usize = 0x010;
/// `TPM_INTF_CAPABILITY_x` (32 bit).
pub const INTF_CAPS: usize = 0x014;
/// `TPM_STS_x` (8 bit status; burstCount in the next two bytes; PTP family bits above).
pub const STS: usize = 0x018;
/// Low byte of burstCount.
pub const BURST_COUNT_LO: usize = 0x019;
/// High byte of burstCount.
pub const BURST_COUNT_HI: usize = 0x01A;
/// `TPM_DATA_FIFO_x` (8 bit).
pub const DATA_FIFO: usize = 0x024;
/// `TPM_DID_VID_x` (32 bit: DID high 16, VID low 16).
pub const DID_VID: usize = 0xF00;
/// `TPM_RID_x` (8 bit).
pub const RID: usize = 0xF04;

/// ACCESS: `tpmRegValidSts`.
pub const ACCESS_VALID: u8 = 0x80;
/// ACCESS: `activeLocality` (read) / relinquish (write 1).
pub const ACCESS_ACTIVE_LOCALITY: u8 = 0x20;
/// ACCESS: `beenSeized` (read: a higher locality seized the TPM from this one; write 1: clear).
pub const ACCESS_BEEN_SEIZED: u8 = 0x10;
/// ACCESS: `Seize` (write 1: take the TPM from a lower active locality).
pub const ACCESS_SEIZE: u8 = 0x08;
/// ACCESS: `pendingRequest`: another locality is asking.
pub const ACCESS_REQUEST_PENDING: u8 = 0x04;
/// ACCESS: `requestUse`.
pub const ACCESS_REQUEST_USE: u8 = 0x02;
/// ACCESS: `tpmEstablishment` (read only).
pub const ACCESS_ESTABLISHMENT: u8 = 0x01;

/// STS: `stsValid`.
pub const STS_VALID: u8 = 0x80;
/// STS: `commandReady` (read: ready for a command; write: abort / prepare).
pub const STS_COMMAND_READY: u8 = 0x40;
/// STS: `tpmGo`.
pub const STS_GO: u8 = 0x20;
/// STS: `dataAvail`.
pub const STS_DATA_AVAIL: u8 = 0x10;
/// STS: `Expect`.
pub const STS_DATA_EXPECT: u8 = 0x08;
/// STS: `responseRetry`.
pub const STS_RESPONSE_RETRY: u8 = 0x02;

/// INTF_CAPS: `InterfaceVersion` field (bits 30:28): 0 = TIS 1.2, 2 = TIS 1.3, 3 = PTP FIFO
/// for TPM 2.0.
pub fn interface_version(intf_caps: u32) -> u32 {
    (intf_caps >> 28) & 7
}
/// INTF_CAPS: `BurstCountStatic`.
pub const INTF_BURST_COUNT_STATIC: u32 = 0x100;
/// PTP STS (32-bit read at 0x18): `tpmFamily`, bits 27:26 (0 = 1.2, 1 = 2.0).
pub fn sts_family(sts32: u32) -> u32 {
    (sts32 >> 26) & 3
}

/// Byte offset of register `reg` of locality `l`.
pub fn at(l: u8, reg: usize) -> usize {
    usize::from(l) * LOCALITY_STRIDE + reg
}
