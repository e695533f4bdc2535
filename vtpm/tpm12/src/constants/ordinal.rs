//! `TPM_COMMAND_CODE` ordinals (TPM Main Part 2 §17) and the two TSC ordinals.
//!
//! Constant names are the spec names without the `TPM_ORD_` prefix, spelled as in
//! the spec (`TPM_ORD_PcrRead` → [`ord::PcrRead`]); the TSC ones keep a `TSC_` prefix.

/// Ordinal constants.
#[allow(non_upper_case_globals)]
pub mod ord {
    macro_rules! ordinals {
        ($($name:ident = $val:expr;)*) => {
            $(#[allow(missing_docs)] pub const $name: u32 = $val;)*

            /// The spec name of an ordinal, for logs and docs.
            pub fn name(ordinal: u32) -> Option<&'static str> {
                match ordinal {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        };
    }

    ordinals! {
        ActivateIdentity = 0x0000007A;
        AuthorizeMigrationKey = 0x0000002B;
        CertifyKey = 0x00000032;
        CertifyKey2 = 0x00000033;
        CertifySelfTest = 0x00000052;
        ChangeAuth = 0x0000000C;
        ChangeAuthAsymFinish = 0x0000000F;
        ChangeAuthAsymStart = 0x0000000E;
        ChangeAuthOwner = 0x00000010;
        CMK_ApproveMA = 0x0000001D;
        CMK_ConvertMigration = 0x00000024;
        CMK_CreateBlob = 0x0000001B;
        CMK_CreateKey = 0x00000013;
        CMK_CreateTicket = 0x00000012;
        CMK_SetRestrictions = 0x0000001C;
        ContinueSelfTest = 0x00000053;
        ConvertMigrationBlob = 0x0000002A;
        CreateCounter = 0x000000DC;
        CreateEndorsementKeyPair = 0x00000078;
        CreateMaintenanceArchive = 0x0000002C;
        CreateMigrationBlob = 0x00000028;
        CreateRevocableEK = 0x0000007F;
        CreateWrapKey = 0x0000001F;
        DAA_Join = 0x00000029;
        DAA_Sign = 0x00000031;
        Delegate_CreateKeyDelegation = 0x000000D4;
        Delegate_CreateOwnerDelegation = 0x000000D5;
        Delegate_LoadOwnerDelegation = 0x000000D8;
        Delegate_Manage = 0x000000D2;
        Delegate_ReadTable = 0x000000DB;
        Delegate_UpdateVerification = 0x000000D1;
        Delegate_VerifyDelegation = 0x000000D6;
        DirRead = 0x0000001A;
        DirWriteAuth = 0x00000019;
        DisableForceClear = 0x0000005E;
        DisableOwnerClear = 0x0000005C;
        DisablePubekRead = 0x0000007E;
        DSAP = 0x00000011;
        EstablishTransport = 0x000000E6;
        EvictKey = 0x00000022;
        ExecuteTransport = 0x000000E7;
        Extend = 0x00000014;
        FieldUpgrade = 0x000000AA;
        FlushSpecific = 0x000000BA;
        ForceClear = 0x0000005D;
        GetAuditDigest = 0x00000085;
        GetAuditDigestSigned = 0x00000086;
        GetAuditEvent = 0x00000082;
        GetAuditEventSigned = 0x00000083;
        GetCapability = 0x00000065;
        GetCapabilityOwner = 0x00000066;
        GetCapabilitySigned = 0x00000064;
        GetOrdinalAuditStatus = 0x0000008C;
        GetPubKey = 0x00000021;
        GetRandom = 0x00000046;
        GetTestResult = 0x00000054;
        GetTicks = 0x000000F1;
        IncrementCounter = 0x000000DD;
        Init = 0x00000097;
        KeyControlOwner = 0x00000023;
        KillMaintenanceFeature = 0x0000002E;
        LoadAuthContext = 0x000000B7;
        LoadContext = 0x000000B9;
        LoadKey = 0x00000020;
        LoadKey2 = 0x00000041;
        LoadKeyContext = 0x000000B5;
        LoadMaintenanceArchive = 0x0000002D;
        LoadManuMaintPub = 0x0000002F;
        MakeIdentity = 0x00000079;
        MigrateKey = 0x00000025;
        NV_DefineSpace = 0x000000CC;
        NV_ReadValue = 0x000000CF;
        NV_ReadValueAuth = 0x000000D0;
        NV_WriteValue = 0x000000CD;
        NV_WriteValueAuth = 0x000000CE;
        OIAP = 0x0000000A;
        OSAP = 0x0000000B;
        OwnerClear = 0x0000005B;
        OwnerReadInternalPub = 0x00000081;
        OwnerReadPubek = 0x0000007D;
        OwnerSetDisable = 0x0000006E;
        PCR_Reset = 0x000000C8;
        PcrRead = 0x00000015;
        PhysicalDisable = 0x00000070;
        PhysicalEnable = 0x0000006F;
        PhysicalSetDeactivated = 0x00000072;
        Quote = 0x00000016;
        Quote2 = 0x0000003E;
        ReadCounter = 0x000000DE;
        ReadManuMaintPub = 0x00000030;
        ReadPubek = 0x0000007C;
        ReleaseCounter = 0x000000DF;
        ReleaseCounterOwner = 0x000000E0;
        ReleaseTransportSigned = 0x000000E8;
        Reset = 0x0000005A;
        ResetLockValue = 0x00000040;
        RevokeTrust = 0x00000080;
        SaveAuthContext = 0x000000B6;
        SaveContext = 0x000000B8;
        SaveKeyContext = 0x000000B4;
        SaveState = 0x00000098;
        Seal = 0x00000017;
        Sealx = 0x0000003D;
        SelfTestFull = 0x00000050;
        SetCapability = 0x0000003F;
        SetOperatorAuth = 0x00000074;
        SetOrdinalAuditStatus = 0x0000008D;
        SetOwnerInstall = 0x00000071;
        SetOwnerPointer = 0x00000075;
        SetRedirection = 0x0000009A;
        SetTempDeactivated = 0x00000073;
        SHA1Complete = 0x000000A2;
        SHA1CompleteExtend = 0x000000A3;
        SHA1Start = 0x000000A0;
        SHA1Update = 0x000000A1;
        Sign = 0x0000003C;
        Startup = 0x00000099;
        StirRandom = 0x00000047;
        TakeOwnership = 0x0000000D;
        Terminate_Handle = 0x00000096;
        TickStampBlob = 0x000000F2;
        UnBind = 0x0000001E;
        Unseal = 0x00000018;
        TSC_PhysicalPresence = 0x4000000A;
        TSC_ResetEstablishmentBit = 0x4000000B;
    }
}
