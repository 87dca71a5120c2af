/* Train on one thread, serve on another: a thread steps a trainer while
 * the main thread predicts with the model lent to it. Every prediction
 * succeeds and is a softmax row (finite, summing to 1); the predictions
 * change as the weights do; after the steps, the model's predictions are
 * the trained weights', before and after bp_trainer_free. Exits 0 and
 * prints "ok" on success. Built and run by tests/it/c_abi.rs, and under
 * ThreadSanitizer by .ci/tsan.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep under -std=c11 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "backprop.h"

#define IN 16
#define OUT 3
#define ROWS 32
#define STEPS 300

static float x[ROWS * IN], t[ROWS * OUT];
static atomic_int done;
static atomic_int failed;

static void *train(void *trainer) {
    for (int s = 0; s < STEPS; s++) {
        float loss;
        if (bp_trainer_step((bp_trainer *)trainer, x, t, ROWS, &loss) != BP_OK) {
            fprintf(stderr, "step %d: %s\n", s, bp_last_error());
            atomic_store(&failed, 1);
            break;
        }
        /* As a loop that loads its next batch would: the server gets in. */
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 100000}, NULL);
    }
    atomic_store(&done, 1);
    return NULL;
}

/* Whether each of `rows` rows of y is a distribution. */
static int softmax_rows(const float *y, int rows) {
    for (int r = 0; r < rows; r++) {
        float sum = 0;
        for (int j = 0; j < OUT; j++) {
            if (!isfinite(y[r * OUT + j])) return 0;
            sum += y[r * OUT + j];
        }
        if (fabsf(sum - 1.0f) > 1e-5f) return 0;
    }
    return 1;
}

int main(void) {
    for (int i = 0; i < ROWS * IN; i++) x[i] = (float)((i * 7919) % 200) / 100.0f - 1.0f;
    for (int r = 0; r < ROWS; r++) t[r * OUT + r % OUT] = 1.0f;
    const size_t sizes[3] = {IN, 64, OUT};
    bp_model *model = NULL;
    bp_trainer *trainer = NULL;
    bp_train_config config;
    bp_train_config_default(&config);
    config.batch_size = ROWS;
    config.threads = 1;
    if (bp_model_new(sizes, 3, BP_ACTIVATION_SIGMOID, BP_HEAD_SOFTMAX, 1, &model) != BP_OK ||
        bp_trainer_new(model, &config, &trainer) != BP_OK) {
        fprintf(stderr, "setup: %s\n", bp_last_error());
        return 1;
    }
    float first[4 * OUT], y[4 * OUT], after[4 * OUT];
    if (bp_model_predict(model, x, 4, first) != BP_OK) return 1;
    pthread_t th;
    pthread_create(&th, NULL, train, trainer);
    long served = 0;
    while (!atomic_load(&done)) {
        if (bp_model_predict(model, x, 4, y) != BP_OK || !softmax_rows(y, 4)) {
            fprintf(stderr, "prediction %ld: %s\n", served, bp_last_error());
            return 1;
        }
        served++;
    }
    pthread_join(th, NULL);
    if (atomic_load(&failed)) return 1;
    if (bp_model_predict(model, x, 4, y) != BP_OK) return 1;
    bp_trainer_free(trainer);
    if (bp_model_predict(model, x, 4, after) != BP_OK) return 1;
    if (memcmp(y, after, sizeof y) != 0) {
        fprintf(stderr, "the lent model's last predictions differ from the returned model's\n");
        return 1;
    }
    if (memcmp(first, after, sizeof first) == 0) {
        fprintf(stderr, "the weights did not change\n");
        return 1;
    }
    bp_model_free(model);
    printf("served %ld predictions while training\nok\n", served);
    return 0;
}
