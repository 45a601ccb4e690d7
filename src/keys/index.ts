export { displayPrefix, generateKey, hashKey, hasValidChecksum } from './format.ts';
export type { ApiKey, CreatedKey, CreateKeyInput, KeyVerifier, VerifiedKey } from './model.ts';
export { type ApiKeyRow, KeysRepo, type KeysTables } from './repo.ts';
export { KeysService, type KeysServiceOptions, toApiKey } from './service.ts';
export { CachedKeyVerifier, type CachedKeyVerifierOptions } from './verifier.ts';
