// The C-to-wasm compiler the guest builds use, and the flags that pick its target and libc.
//   WASI_SDK_PATH set (macOS, Windows, or any machine with wasi-sdk unpacked): that SDK's clang,
//     target wasm32-wasip1 (wasi-sdk 26+ no longer ships the old `wasm32-wasi` name), its sysroot.
//   otherwise: `clang` from PATH with the system wasi-libc (Debian: clang, lld, wasi-libc,
//     libclang-rt-dev-wasm32), target wasm32-wasi (the name Debian's wasi-libc is installed under).
import { join } from 'node:path'

export function wasmClang() {
  const sdk = process.env.WASI_SDK_PATH
  if (sdk) {
    return {
      command: join(sdk, 'bin', process.platform === 'win32' ? 'clang.exe' : 'clang'),
      flags: ['--target=wasm32-wasip1', `--sysroot=${join(sdk, 'share', 'wasi-sysroot')}`],
      from: `wasi-sdk at ${sdk} (WASI_SDK_PATH)`,
    }
  }
  return { command: 'clang', flags: ['--target=wasm32-wasi'], from: 'clang on PATH with the system wasi-libc' }
}
