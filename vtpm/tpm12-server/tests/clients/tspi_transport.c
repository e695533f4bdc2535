/*
 * A TrouSerS application with transport sessions on: the TSP (libtspi) wraps every
 * command in TPM_ExecuteTransport of a session whose secret it encrypts to the SRK
 * (TPM_EstablishTransport), with default encryption and a logged (authentic) channel;
 * then Tspi_Context_CloseSignTransport ends it with TPM_ReleaseTransportSigned.
 *
 * Built and run by real_clients.rs (needs cc and libtspi-dev). Owner and SRK secrets are
 * the well-known secret. Prints "OK", then the signing key's modulus, the signed data
 * (TPM_SIGN_INFO) and the signature in hex, for the test to verify.
 */
#include <stdio.h>
#include <string.h>
#include <tss/tspi.h>

static int failed(const char *what, TSS_RESULT r)
{
	fprintf(stderr, "%s: 0x%x\n", what, r);
	return 1;
}

static void hex(const char *label, const BYTE *b, UINT32 n)
{
	printf("%s ", label);
	for (UINT32 i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

#define TRY(what, call) do { TSS_RESULT r_ = (call); if (r_ != TSS_SUCCESS) return failed(what, r_); } while (0)

int main(void)
{
	BYTE well_known[] = TSS_WELL_KNOWN_SECRET;
	TSS_UUID srk_uuid = TSS_UUID_SRK;
	TSS_HCONTEXT ctx;
	TSS_HTPM tpm;
	TSS_HKEY srk, sig;
	TSS_HPOLICY pol;
	TSS_HENCDATA enc;
	BYTE *p;
	UINT32 n;
	BYTE secret[] = "a secret through the transport";

	TRY("Context_Create", Tspi_Context_Create(&ctx));
	TRY("Context_Connect", Tspi_Context_Connect(ctx, NULL));
	TRY("GetTpmObject", Tspi_Context_GetTpmObject(ctx, &tpm));
	TRY("LoadKeyByUUID(SRK)", Tspi_Context_LoadKeyByUUID(ctx, TSS_PS_TYPE_SYSTEM, srk_uuid, &srk));
	TRY("GetPolicyObject(SRK)", Tspi_GetPolicyObject(srk, TSS_POLICY_USAGE, &pol));
	TRY("Policy_SetSecret(SRK)", Tspi_Policy_SetSecret(pol, TSS_SECRET_MODE_SHA1, 20, well_known));
	TRY("GetPolicyObject(TPM)", Tspi_GetPolicyObject(tpm, TSS_POLICY_USAGE, &pol));
	TRY("Policy_SetSecret(owner)", Tspi_Policy_SetSecret(pol, TSS_SECRET_MODE_SHA1, 20, well_known));

	/* Transport on: the secret encrypted to the SRK, every command encrypted and logged. */
	TRY("SetTransEncryptionKey", Tspi_Context_SetTransEncryptionKey(ctx, srk));
	/* The mode flags are set one per call. */
	TRY("transport encryption", Tspi_SetAttribUint32(ctx, TSS_TSPATTRIB_CONTEXT_TRANSPORT,
							 TSS_TSPATTRIB_CONTEXTTRANS_MODE,
							 TSS_TSPATTRIB_TRANSPORT_DEFAULT_ENCRYPTION));
	TRY("transport log", Tspi_SetAttribUint32(ctx, TSS_TSPATTRIB_CONTEXT_TRANSPORT,
						  TSS_TSPATTRIB_CONTEXTTRANS_MODE,
						  TSS_TSPATTRIB_TRANSPORT_AUTHENTIC_CHANNEL));
	TRY("transport on", Tspi_SetAttribUint32(ctx, TSS_TSPATTRIB_CONTEXT_TRANSPORT,
						 TSS_TSPATTRIB_CONTEXTTRANS_CONTROL,
						 TSS_TSPATTRIB_ENABLE_TRANSPORT));

	TRY("TPM_GetRandom", Tspi_TPM_GetRandom(tpm, 16, &p));
	TRY("TPM_PcrRead", Tspi_TPM_PcrRead(tpm, 10, &n, &p));
	if (n != 20)
		return failed("PcrRead length", n);

	/* Seal and unseal under the SRK (OSAP/OIAP sessions inside the transport). */
	TRY("CreateObject(encdata)", Tspi_Context_CreateObject(ctx, TSS_OBJECT_TYPE_ENCDATA,
							       TSS_ENCDATA_SEAL, &enc));
	TRY("GetPolicyObject(encdata)", Tspi_GetPolicyObject(enc, TSS_POLICY_USAGE, &pol));
	TRY("Policy_SetSecret(encdata)", Tspi_Policy_SetSecret(pol, TSS_SECRET_MODE_SHA1, 20, well_known));
	TRY("Data_Seal", Tspi_Data_Seal(enc, srk, sizeof(secret), secret, 0));
	TRY("Data_Unseal", Tspi_Data_Unseal(enc, srk, &n, &p));
	if (n != sizeof(secret) || memcmp(p, secret, n) != 0)
		return failed("unsealed data differs", n);

	/* A signing key (no authorization) for the signed release. */
	TRY("CreateObject(key)", Tspi_Context_CreateObject(ctx, TSS_OBJECT_TYPE_RSAKEY,
							   TSS_KEY_TYPE_SIGNING | TSS_KEY_SIZE_2048 |
							   TSS_KEY_NO_AUTHORIZATION | TSS_KEY_NOT_MIGRATABLE,
							   &sig));
	TRY("Key_CreateKey", Tspi_Key_CreateKey(sig, srk, 0));
	TRY("Key_LoadKey", Tspi_Key_LoadKey(sig, srk));

	TSS_VALIDATION v;
	BYTE nonce[20];
	memset(&v, 0, sizeof(v));
	memset(nonce, 0x4e, sizeof(nonce));
	v.ulExternalDataLength = sizeof(nonce);
	v.rgbExternalData = nonce;
	TRY("Context_CloseSignTransport", Tspi_Context_CloseSignTransport(ctx, sig, &v));
	TRY("modulus", Tspi_GetAttribData(sig, TSS_TSPATTRIB_RSAKEY_INFO, TSS_TSPATTRIB_KEYINFO_RSA_MODULUS,
					 &n, &p));
	printf("OK\n");
	hex("MODULUS", p, n);
	hex("DATA", v.rgbData, v.ulDataLength);
	hex("SIG", v.rgbValidationData, v.ulValidationDataLength);
	Tspi_Context_Close(ctx);
	return 0;
}
