/* backprop: a C ABI for training multilayer perceptrons.
 *
 * Ownership: bp_model_new/bp_model_load return a model the caller frees with
 * bp_model_free; bp_trainer_new returns a trainer the caller frees with
 * bp_trainer_free, which gives the trained weights back to its model. A
 * trainer updates its model in place, and the model must outlive it.
 *
 * Threads: a trainer and the model lent to it take turns through one lock.
 * bp_model_predict (or _save, _inputs, ...) on one thread while
 * bp_trainer_step runs on another waits for the step and sees its weights:
 * train on one thread, serve on another. Only the *_free functions and
 * bp_model_set_threads need the handle to be used by no other thread.
 * Different models and trainers may be used from different threads at once.
 *
 * Errors: every function that can fail returns a bp_status; the message of
 * the calling thread's last failure is bp_last_error(). Null pointers, zero
 * sizes, sizes whose product overflows, unknown enum values and a config
 * from another version of this header are errors, never crashes; *_free(NULL)
 * does nothing.
 *
 * Arrays are row-major float: x is rows x inputs, t and y rows x outputs
 * (one-hot t for softmax).
 */

#ifndef BACKPROP_H
#define BACKPROP_H

#include <stddef.h>
#include <stdint.h>


/**
 * Status of a call: `BP_OK` or what went wrong (the message is in
 * `bp_last_error`).
 */
typedef enum {
  /**
   * Success.
   */
  BP_OK = 0,
  /**
   * A null pointer, a zero or overflowing size, an unknown enum value,
   * a config from another header version, a setting out of range, or
   * input and output arrays that overlap.
   */
  BP_ERR_INVALID_ARGUMENT = 1,
  /**
   * Buffer sizes that do not match the model.
   */
  BP_ERR_SHAPE = 2,
  /**
   * A file could not be read or written.
   */
  BP_ERR_IO = 3,
  /**
   * A file is not a valid model file.
   */
  BP_ERR_FORMAT = 4,
  /**
   * A non-finite value (the loss diverged, or bad data).
   */
  BP_ERR_NUMERIC = 5,
  /**
   * A bug in backprop (a caught panic).
   */
  BP_ERR_INTERNAL = 6,
} bp_status;

/**
 * Hidden-unit activation (the order of `Activation::ALL`).
 */
typedef enum {
  /**
   * Logistic sigmoid.
   */
  BP_ACTIVATION_SIGMOID = 0,
  /**
   * Hyperbolic tangent.
   */
  BP_ACTIVATION_TANH = 1,
  /**
   * Rectified linear.
   */
  BP_ACTIVATION_RELU = 2,
} bp_activation;

/**
 * Output head (the order of `Head::ALL`).
 */
typedef enum {
  /**
   * Softmax with cross-entropy (one-hot targets).
   */
  BP_HEAD_SOFTMAX = 0,
  /**
   * Independent sigmoids with binary cross-entropy (targets in [0, 1]).
   */
  BP_HEAD_LOGISTIC = 1,
  /**
   * Identity with half squared error.
   */
  BP_HEAD_LINEAR = 2,
  /**
   * Exponential (a rate) with the Poisson negative log-likelihood
   * (targets ≥ 0).
   */
  BP_HEAD_POISSON = 3,
} bp_head;

/**
 * Update rule: PyTorch's `SGD`, `Adam`, `AdamW`.
 */
typedef enum {
  /**
   * SGD, with optional momentum and weight decay.
   */
  BP_OPTIMIZER_SGD = 0,
  /**
   * Adam (β1 0.9, β2 0.999, ε 1e-8; weight decay added to the gradient).
   */
  BP_OPTIMIZER_ADAM = 1,
  /**
   * AdamW (as Adam, weight decay decoupled).
   */
  BP_OPTIMIZER_ADAMW = 2,
} bp_optimizer;

/**
 * What fills a missing cell of a feature column.
 */
typedef struct Missing Missing;

/**
 * The precision of a product's operands.
 */
typedef struct Precision Precision;

/**
 * A network: layer sizes, activation, head and weights (opaque).
 */
typedef struct bp_model bp_model;

/**
 * A trainer bound to a model (opaque).
 */
typedef struct bp_trainer bp_trainer;

/**
 * A `bp_precision` as it crosses the boundary: any `int`, checked before use.
 */
typedef int32_t bp_precision_int;

/**
 * Training settings. Fill with `bp_train_config_default`, then change
 * fields; `struct_size` tells the library which header the caller was
 * compiled with.
 */
typedef struct {
  /**
   * `sizeof(bp_train_config)`, set by `bp_train_config_default`.
   */
  uint32_t struct_size;
  /**
   * Most rows a step accepts (default 64).
   */
  size_t batch_size;
  /**
   * Threads of the trainer's own pool; 0 = every core (default 0).
   */
  size_t threads;
  /**
   * Learning rate (default 1.0, meant for SGD; Adam usually wants 1e-3).
   */
  float lr;
  /**
   * Update rule (default `BP_OPTIMIZER_SGD`).
   */
  bp_optimizer optimizer;
  /**
   * SGD momentum in [0, 1) (default 0; other optimizers need 0).
   */
  float momentum;
  /**
   * Weight decay ≥ 0 (default 0; for AdamW PyTorch's default is 0.01).
   */
  float weight_decay;
  /**
   * Precision of the products' operands (default `BP_PRECISION_FP32`).
   */
  bp_precision_int precision;
} bp_train_config;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The library's version, a static NUL-terminated string.
 *
 * # Safety
 * None: it takes no arguments and the string is never freed.
 */
const char *bp_version(void);

/**
 * The instruction-set path the kernels use ("avx512", "avx2", "wide" or
 * "scalar"), a static string.
 *
 * # Safety
 * None: it takes no arguments and the string is never freed.
 */
const char *bp_simd_path(void);

/**
 * The message of this thread's last failure, "" if none; valid until this
 * thread's next failing call.
 *
 * # Safety
 * None: it takes no arguments; the caller must not free the string or use
 * it after this thread's next failing call.
 */
const char *bp_last_error(void);

/**
 * A new model with seeded initial weights. `sizes` holds `n_sizes ≥ 2`
 * layer sizes: inputs, hidden widths, outputs.
 *
 * # Safety
 * `sizes` points to `n_sizes` readable `size_t`; `out` to writable storage
 * for one pointer. NULL for either is an error.
 */
bp_status bp_model_new(const size_t *sizes,
                       size_t n_sizes,
                       bp_activation activation,
                       bp_head head,
                       uint64_t seed,
                       bp_model **out);

/**
 * Loads a model file (safetensors, as `backprop train` saves it).
 *
 * # Safety
 * `path` is a NUL-terminated string; `out` points to writable storage for
 * one pointer. NULL for either is an error.
 */
bp_status bp_model_load(const char *path, bp_model **out);

/**
 * Saves the model to `path` atomically.
 *
 * # Safety
 * `model` is a live model; `path` a NUL-terminated string. NULL for either
 * is an error.
 */
bp_status bp_model_save(const bp_model *model, const char *path);

/**
 * Inputs of the model (0 for NULL).
 *
 * # Safety
 * `model` is NULL or a live model.
 */
size_t bp_model_inputs(const bp_model *model);

/**
 * Outputs of the model (0 for NULL).
 *
 * # Safety
 * `model` is NULL or a live model.
 */
size_t bp_model_outputs(const bp_model *model);

/**
 * Writes up to `cap` layer sizes into `sizes` (NULL to only count) and
 * returns how many there are (0 for a NULL model).
 *
 * # Safety
 * `model` is NULL or a live model; `sizes` is NULL or has room for `cap`
 * `size_t`.
 */
size_t bp_model_layer_sizes(const bp_model *model, size_t *sizes, size_t cap);

/**
 * The head's outputs for `rows` rows: `x` is rows × inputs, `y` receives
 * rows × outputs (row-major float). `x` and `y` must not overlap (in-place
 * prediction is `BP_ERR_INVALID_ARGUMENT`).
 *
 * # Safety
 * `model` is a live model; `x` points to rows × inputs readable floats and
 * `y` to rows × outputs writable ones. NULL for any is an error.
 */
bp_status bp_model_predict(const bp_model *model, const float *x, size_t rows, float *y);

/**
 * Cells a row of `bp_model_predict_cells` holds: the columns of the table
 * the model was trained from (its categorical columns count once each),
 * or `bp_model_inputs` for a model of plain numeric inputs; 0 for NULL.
 *
 * # Safety
 * `model` is NULL or a live model.
 */
size_t bp_model_columns(const bp_model *model);

/**
 * The head's outputs for `rows` rows of raw table cells, as `backprop
 * predict` reads a CSV: `cells` holds rows × `bp_model_columns` pointers
 * to NUL-terminated UTF-8 strings, row-major, each read as the model's
 * training read its column (a number; a category, one-hot; a missing cell,
 * such as `""` or `"NA"`, filled as the model says). `y` receives rows ×
 * outputs floats. A cell the model cannot read (text in a numeric column,
 * an unseen category, a missing cell the model has no fill for) is
 * `BP_ERR_INVALID_ARGUMENT`, and `bp_last_error` names its row and column.
 *
 * # Safety
 * `model` is a live model; `cells` points to rows × columns readable
 * pointers, each to a NUL-terminated string; `y` to rows × outputs
 * writable floats. NULL for any is an error.
 */
bp_status bp_model_predict_cells(const bp_model *model,
                                 const char *const *cells,
                                 size_t rows,
                                 float *y);

/**
 * Sets the threads `bp_model_predict` uses for this model (0, the default:
 * every core; 1: the calling thread); at most 1024.
 *
 * # Safety
 * `model` is a live model not used by another thread during the call.
 * NULL is an error.
 */
bp_status bp_model_set_threads(bp_model *model, size_t threads);

/**
 * Sets the precision of `bp_model_predict`'s products for this model
 * (`BP_PRECISION_FP32`, the default, or `BP_PRECISION_BF16`: operands
 * rounded to bf16, sums in f32, the weights kept packed in bf16).
 *
 * # Safety
 * `model` is a live model not used by another thread during the call.
 * NULL is an error.
 */
bp_status bp_model_set_precision(bp_model *model, bp_precision_int precision);

/**
 * Frees a model; NULL is a no-op. A model with a live trainer is freed
 * with the trainer instead (and must not be used after this call).
 *
 * # Safety
 * `model` is NULL or a model from `bp_model_new`/`bp_model_load` not yet
 * freed.
 */
void bp_model_free(bp_model *model);

/**
 * Fills `*config` with the defaults and sets `struct_size`; NULL is a
 * no-op.
 *
 * # Safety
 * `config` is NULL or points to writable storage for one `bp_train_config`.
 */
void bp_train_config_default(bp_train_config *config);

/**
 * A trainer for `model`, which it updates in place. The model must outlive
 * the trainer; until `bp_trainer_free`, the model's functions on other
 * threads wait for a running step (the header's "Threads").
 *
 * # Safety
 * `model` is a live model; `config` points to a `bp_train_config` filled by
 * `bp_train_config_default` (at least `struct_size` bytes); `out` to
 * writable storage for one pointer. NULL for any is an error.
 */
bp_status bp_trainer_new(bp_model *model, const bp_train_config *config, bp_trainer **out);

/**
 * One step on `rows` rows: `x` rows × inputs, `t` rows × outputs (one-hot
 * for softmax); writes the batch's mean loss to `*loss` (if not NULL),
 * which must not lie inside `x` or `t`.
 *
 * # Safety
 * `trainer` is a live trainer (other threads may step it or use its
 * model: they take turns); `x` points to
 * rows × inputs and `t` to rows × outputs readable floats; `loss` is NULL or
 * points to one writable float. NULL for the others is an error.
 */
bp_status bp_trainer_step(bp_trainer *trainer,
                          const float *x,
                          const float *t,
                          size_t rows,
                          float *loss);

/**
 * [`bp_trainer_step`] with a weight for each row: `w` holds `rows`
 * floats, each finite and ≥ 0. The objective is the weighted mean
 * `Σ w·E / Σ w` (scikit-learn's `sample_weight`), written to `*loss`;
 * weights of 1 give `bp_trainer_step`'s bits, and a batch whose weights
 * sum to 0 changes nothing.
 *
 * # Safety
 * As for [`bp_trainer_step`], and `w` points to `rows` readable floats.
 */
bp_status bp_trainer_step_weighted(bp_trainer *trainer,
                                   const float *x,
                                   const float *t,
                                   const float *w,
                                   size_t rows,
                                   float *loss);

/**
 * Frees a trainer, giving its model back the trained weights; NULL is a
 * no-op.
 *
 * # Safety
 * `trainer` is NULL or a trainer from `bp_trainer_new` not yet freed.
 */
void bp_trainer_free(bp_trainer *trainer);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* BACKPROP_H */
