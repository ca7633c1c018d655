package db

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileName is the file in the data folder holding the generated secret key when
// SECRET_KEY is not set.
const KeyFileName = "secret.key"

// Cipher encrypts secrets (access tokens, PINs) with AES-256-GCM before they are stored.
type Cipher struct {
	aead cipher.AEAD
	key  [32]byte
}

// NewCipher derives the 256-bit key from the secret. SHA-256 is enough as a derivation
// because the secret is either 32 random bytes we generated or an operator's SECRET_KEY.
func NewCipher(secret string) (*Cipher, error) {
	if strings.TrimSpace(secret) == "" {
		return nil, errors.New("db: cipher: empty secret key")
	}
	key := sha256.Sum256([]byte("inboxhealth/at-rest/v1\x00" + secret))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("db: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("db: cipher: %w", err)
	}
	return &Cipher{aead: aead, key: key}, nil
}

// Encrypt returns nonce || ciphertext.
func (c *Cipher) Encrypt(plain string) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("db: encrypt: %w", err)
	}
	return c.aead.Seal(nonce, nonce, []byte(plain), nil), nil
}

// Decrypt reverses Encrypt; a wrong key or tampered value is an error, never garbage.
func (c *Cipher) Decrypt(sealed []byte) (string, error) {
	n := c.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("db: decrypt: value too short")
	}
	plain, err := c.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return "", errors.New("db: decrypt: wrong SECRET_KEY or damaged value")
	}
	return string(plain), nil
}

// DeriveKey returns a 32-byte key for another purpose (e.g. signing session cookies),
// independent of the encryption key.
func (c *Cipher) DeriveKey(purpose string) []byte {
	k := sha256.Sum256(append(append([]byte{}, c.key[:]...), []byte("\x00"+purpose)...))
	return k[:]
}

// MinSecretKeyLength is the shortest SECRET_KEY accepted, in bytes: a key that protects
// every stored token and signs every session must not be guessable.
const MinSecretKeyLength = 32

// LoadOrCreateSecret returns secret if set; otherwise the key stored in dir/secret.key,
// generating it (32 random bytes, hex, mode 0600) the first time. A key shorter than
// MinSecretKeyLength bytes is refused.
func LoadOrCreateSecret(secret, dir string) (string, error) {
	if strings.TrimSpace(secret) != "" {
		if len(secret) < MinSecretKeyLength {
			return "", fmt.Errorf("SECRET_KEY is %d bytes long: use at least %d random bytes (e.g. the output of `openssl rand -hex 32`)", len(secret), MinSecretKeyLength)
		}
		return secret, nil
	}
	path := filepath.Join(dir, KeyFileName)
	if b, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(b))
		if len(key) < MinSecretKeyLength {
			return "", fmt.Errorf("db: secret key file %s holds %d bytes: want at least %d (delete it only if the database is new: a new key cannot read stored tokens)", path, len(key), MinSecretKeyLength)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("db: read secret key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("db: create data folder: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("db: generate secret key: %w", err)
	}
	key := hex.EncodeToString(raw)
	// O_EXCL: two processes starting at once must not each write their own key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateSecret("", dir)
	}
	if err != nil {
		return "", fmt.Errorf("db: write secret key: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("db: write secret key: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("db: write secret key: %w", err)
	}
	return key, nil
}
