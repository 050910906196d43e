//! The few C functions of PocketSphinx 0.8 ("5prealpha") and SphinxBase this crate calls,
//! declared by hand from their headers (`pocketsphinx.h`, `ps_search.h`, `cmd_ln.h`,
//! `ckd_alloc.h`, `err.h`) and resolved at run time with `dlopen`, so the binary starts and
//! runs on machines without them. No variadic function is called.
//!
//! This is the crate's only unsafe code. What makes it sound:
//! - every function pointer has the signature its header declares (`int32` is `i32`,
//!   `size_t` is `usize`, opaque structs are `c_void`), and is only called while the
//!   library it came from is loaded (a [`Decoder`] holds the [`Sphinx`] it came from);
//! - a decoder pointer is non-null, owned by one [`Decoder`], freed once (in `Drop`), and
//!   used through `&mut self` only, so never by two threads at once;
//! - strings passed in are NUL-terminated `CString`s that outlive the call, and strings
//!   returned are copied before the next call on the decoder (which may free them).
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError};

/// The functions, as their headers declare them.
struct Functions {
    /// `arg_t const *ps_args(void)`
    ps_args: unsafe extern "C" fn() -> *const c_void,
    /// `cmd_ln_t *cmd_ln_parse_r(cmd_ln_t *inout, arg_t const *defn, int32 argc, char *argv[], int32 strict)`
    cmd_ln_parse_r:
        unsafe extern "C" fn(*mut c_void, *const c_void, i32, *mut *mut c_char, i32) -> *mut c_void,
    /// `int cmd_ln_free_r(cmd_ln_t *cmdln)`
    cmd_ln_free_r: unsafe extern "C" fn(*mut c_void) -> c_int,
    /// `ps_decoder_t *ps_init(cmd_ln_t *config)`
    ps_init: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    /// `int ps_free(ps_decoder_t *ps)`
    ps_free: unsafe extern "C" fn(*mut c_void) -> c_int,
    /// `char *ps_lookup_word(ps_decoder_t *ps, const char *word)`: allocated, or NULL.
    ps_lookup_word: unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_char,
    /// `void ckd_free(void *ptr)`
    ckd_free: unsafe extern "C" fn(*mut c_void),
    /// `int ps_set_jsgf_string(ps_decoder_t *ps, const char *name, const char *jsgf_string)`
    ps_set_jsgf_string: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> c_int,
    /// `int ps_set_search(ps_decoder_t *ps, const char *name)`
    ps_set_search: unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int,
    /// `int ps_start_utt(ps_decoder_t *ps)`
    ps_start_utt: unsafe extern "C" fn(*mut c_void) -> c_int,
    /// `int ps_process_raw(ps_decoder_t *ps, int16 const *data, size_t n_samples, int no_search, int full_utt)`
    ps_process_raw: unsafe extern "C" fn(*mut c_void, *const i16, usize, c_int, c_int) -> c_int,
    /// `int ps_end_utt(ps_decoder_t *ps)`
    ps_end_utt: unsafe extern "C" fn(*mut c_void) -> c_int,
    /// `char const *ps_get_hyp(ps_decoder_t *ps, int32 *out_best_score)`: owned by the
    /// decoder, or NULL.
    ps_get_hyp: unsafe extern "C" fn(*mut c_void, *mut i32) -> *const c_char,
    /// `void err_set_logfp(FILE *stream)`: NULL turns logging off.
    err_set_logfp: unsafe extern "C" fn(*mut c_void),
}

/// The loaded library.
pub struct Sphinx {
    functions: Functions,
    /// Making, setting up and freeing decoders take turns: those paths read files and
    /// parse grammars through code not documented as thread-safe. Decoding, the costly
    /// part, runs in parallel on separate decoders.
    setup: Mutex<()>,
    /// Kept loaded while any function pointer above may be called.
    _library: libloading::Library,
}

impl std::fmt::Debug for Sphinx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sphinx").finish_non_exhaustive()
    }
}

/// Looks up `name` as a `T`.
///
/// # Safety
/// `T` must be the symbol's C function type.
unsafe fn symbol<T: Copy>(library: &libloading::Library, name: &CStr) -> Result<T, String> {
    // SAFETY: the caller vouches for `T`; the pointer is copied out, and the caller keeps
    // the library loaded as long as it is used.
    unsafe { library.get::<T>(name) }
        .map(|s| *s)
        .map_err(|e| format!("{} is missing ({e})", name.to_string_lossy()))
}

impl Sphinx {
    /// Loads the library at `path` (a file, or a bare name for the loader's search path)
    /// and resolves every function; its dependency libsphinxbase is loaded with it.
    pub fn open(path: &Path) -> Result<Arc<Sphinx>, String> {
        // SAFETY: loading runs the library's initializers; libpocketsphinx and
        // libsphinxbase have none beyond the C runtime's.
        let library = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
        // SAFETY: each type is the C signature of its function in the 0.8 headers (see
        // `Functions`); a library of another API fails here by name, not later.
        let functions = unsafe {
            Functions {
                ps_args: symbol(&library, c"ps_args")?,
                cmd_ln_parse_r: symbol(&library, c"cmd_ln_parse_r")?,
                cmd_ln_free_r: symbol(&library, c"cmd_ln_free_r")?,
                ps_init: symbol(&library, c"ps_init")?,
                ps_free: symbol(&library, c"ps_free")?,
                ps_lookup_word: symbol(&library, c"ps_lookup_word")?,
                ckd_free: symbol(&library, c"ckd_free")?,
                ps_set_jsgf_string: symbol(&library, c"ps_set_jsgf_string")?,
                ps_set_search: symbol(&library, c"ps_set_search")?,
                ps_start_utt: symbol(&library, c"ps_start_utt")?,
                ps_process_raw: symbol(&library, c"ps_process_raw")?,
                ps_end_utt: symbol(&library, c"ps_end_utt")?,
                ps_get_hyp: symbol(&library, c"ps_get_hyp")?,
                err_set_logfp: symbol(&library, c"err_set_logfp")?,
            }
        };
        // PocketSphinx logs every step to stderr by default; its failures reach us as
        // return values, which are reported with context instead.
        // SAFETY: NULL is the documented "no logging" stream.
        unsafe { (functions.err_set_logfp)(std::ptr::null_mut()) };
        Ok(Arc::new(Sphinx {
            functions,
            setup: Mutex::new(()),
            _library: library,
        }))
    }

    fn setup_turn(&self) -> std::sync::MutexGuard<'_, ()> {
        self.setup.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One PocketSphinx decoder: a model loaded once, used for one utterance at a time.
pub struct Decoder {
    sphinx: Arc<Sphinx>,
    ps: NonNull<c_void>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

// SAFETY: a decoder has no tie to the thread that made it, and `Decoder` uses it only
// through `&mut self`, so it moves between threads but is never used by two at once.
unsafe impl Send for Decoder {}

fn c_string(what: &str, s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

impl Decoder {
    /// A decoder of the acoustic model in `acoustic` with the dictionary `dictionary`.
    pub fn new(sphinx: &Arc<Sphinx>, acoustic: &Path, dictionary: &Path) -> Result<Self, String> {
        let args = [
            c_string("-hmm", "-hmm")?,
            c_string("the model folder", &acoustic.to_string_lossy())?,
            c_string("-dict", "-dict")?,
            c_string("the dictionary path", &dictionary.to_string_lossy())?,
            // Noise removal keeps its noise estimate from one utterance to the next, so the
            // same recording was heard differently depending on what the decoder heard
            // before; without it each question is heard on its own, the same on any decoder.
            c_string("-remove_noise", "-remove_noise")?,
            c_string("no", "no")?,
        ];
        let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
        let f = &sphinx.functions;
        let _turn = sphinx.setup_turn();
        // SAFETY: `argv` holds `args.len()` pointers to NUL-terminated strings alive for
        // the call; cmd_ln_parse_r copies what it keeps and writes none of them (the
        // header's `char *` is historical). `ps_args()` is a static table.
        let config = unsafe {
            (f.cmd_ln_parse_r)(
                std::ptr::null_mut(),
                (f.ps_args)(),
                i32::try_from(argv.len()).unwrap_or(i32::MAX),
                argv.as_mut_ptr(),
                1,
            )
        };
        if config.is_null() {
            return Err("PocketSphinx refused its arguments".to_owned());
        }
        // SAFETY: `config` is a live configuration; ps_init takes its own reference, so
        // ours is released right after, whether or not a decoder came out.
        let ps = unsafe {
            let ps = (f.ps_init)(config);
            (f.cmd_ln_free_r)(config);
            ps
        };
        let ps = NonNull::new(ps).ok_or_else(|| {
            format!(
                "PocketSphinx cannot load the model in {} with the dictionary {} (missing, \
                 unreadable or damaged files)",
                acoustic.display(),
                dictionary.display()
            )
        })?;
        Ok(Decoder {
            sphinx: sphinx.clone(),
            ps,
        })
    }

    /// Whether the dictionary has `word`.
    pub fn knows(&mut self, word: &str) -> bool {
        let Ok(word) = CString::new(word) else {
            return false;
        };
        let f = &self.sphinx.functions;
        // SAFETY: a live decoder and a NUL-terminated word; the answer is allocated with
        // ckd_calloc and freed here with its own allocator's ckd_free.
        unsafe {
            let phones = (f.ps_lookup_word)(self.ps.as_ptr(), word.as_ptr());
            if phones.is_null() {
                return false;
            }
            (f.ckd_free)(phones.cast());
        }
        true
    }

    /// Makes the JSGF grammar `jsgf` the decoder's search, under `name`.
    pub fn set_grammar(&mut self, name: &str, jsgf: &str) -> Result<(), String> {
        let name = c_string("the grammar's name", name)?;
        let jsgf = c_string("the grammar", jsgf)?;
        let f = &self.sphinx.functions;
        let _turn = self.sphinx.setup_turn();
        // SAFETY: a live decoder and NUL-terminated strings alive for the calls; a search
        // of the same name is replaced (and freed) by PocketSphinx.
        let (set, chosen) = unsafe {
            let set = (f.ps_set_jsgf_string)(self.ps.as_ptr(), name.as_ptr(), jsgf.as_ptr());
            let chosen = if set == 0 {
                (f.ps_set_search)(self.ps.as_ptr(), name.as_ptr())
            } else {
                set
            };
            (set, chosen)
        };
        if set != 0 {
            return Err("PocketSphinx refused the grammar".to_owned());
        }
        if chosen != 0 {
            return Err("PocketSphinx cannot switch to the grammar".to_owned());
        }
        Ok(())
    }

    /// Decodes one utterance: the best hypothesis, `None` when the search found none.
    pub fn decode(&mut self, samples: &[i16]) -> Result<Option<String>, String> {
        let f = &self.sphinx.functions;
        let ps = self.ps.as_ptr();
        // SAFETY: a live decoder; `samples` is valid for `samples.len()` values during the
        // call, which only reads it. The hypothesis belongs to the decoder and is copied
        // before anything else is called on it.
        unsafe {
            if (f.ps_start_utt)(ps) < 0 {
                return Err("PocketSphinx cannot start an utterance".to_owned());
            }
            let processed = (f.ps_process_raw)(ps, samples.as_ptr(), samples.len(), 0, 1);
            let ended = (f.ps_end_utt)(ps);
            if processed < 0 {
                return Err("PocketSphinx failed on the samples".to_owned());
            }
            if ended < 0 {
                return Err("PocketSphinx cannot end the utterance".to_owned());
            }
            let mut score = 0i32;
            let hyp = (f.ps_get_hyp)(ps, &mut score);
            if hyp.is_null() {
                return Ok(None);
            }
            Ok(Some(CStr::from_ptr(hyp).to_string_lossy().into_owned()))
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _turn = self.sphinx.setup_turn();
        // SAFETY: the decoder is live and this is its one release; the library is still
        // loaded (this decoder holds it).
        unsafe {
            (self.sphinx.functions.ps_free)(self.ps.as_ptr());
        }
    }
}
