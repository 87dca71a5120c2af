/* XOR through the C ABI: a 2-8-1 logistic network trained to 100%, saved,
 * reloaded, and asked again. Exits 0 on success.
 *
 *   cargo build --release
 *   cc examples/c/xor.c -Iinclude target/release/libbackprop.a -lpthread -ldl -lm -o xor && ./xor
 */
#include <stdio.h>
#include <stdlib.h>
#include "backprop.h"

#define CHECK(call)                                                          \
    do {                                                                     \
        bp_status s_ = (call);                                               \
        if (s_ != BP_OK) {                                                   \
            fprintf(stderr, "%s failed (%d): %s\n", #call, s_, bp_last_error()); \
            return 1;                                                        \
        }                                                                    \
    } while (0)

static int correct(const float *y) {
    const float want[4] = {0, 1, 1, 0};
    int n = 0;
    for (int i = 0; i < 4; i++) n += (y[i] > 0.5f) == (want[i] > 0.5f);
    return n;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "xor.safetensors";
    const float x[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    const float t[4] = {0, 1, 1, 0};
    const size_t sizes[3] = {2, 8, 1};
    printf("backprop %s (%s)\n", bp_version(), bp_simd_path());

    bp_model *model = NULL;
    CHECK(bp_model_new(sizes, 3, BP_ACTIVATION_SIGMOID, BP_HEAD_LOGISTIC, 3, &model));

    bp_train_config config;
    bp_train_config_default(&config);
    config.batch_size = 4;
    config.threads = 1;
    config.lr = 2.0f;
    bp_trainer *trainer = NULL;
    CHECK(bp_trainer_new(model, &config, &trainer));
    float loss = 0;
    for (int step = 0; step < 3000; step++) CHECK(bp_trainer_step(trainer, x, t, 4, &loss));
    bp_trainer_free(trainer);
    printf("loss after 3000 steps: %g\n", loss);

    float y[4];
    CHECK(bp_model_predict(model, x, 4, y));
    printf("trained:  %.3f %.3f %.3f %.3f (%d/4)\n", y[0], y[1], y[2], y[3], correct(y));
    CHECK(bp_model_save(model, path));
    bp_model_free(model);

    bp_model *again = NULL;
    CHECK(bp_model_load(path, &again));
    float z[4];
    CHECK(bp_model_predict(again, x, 4, z));
    printf("reloaded: %.3f %.3f %.3f %.3f (%d/4)\n", z[0], z[1], z[2], z[3], correct(z));
    int same = 1;
    for (int i = 0; i < 4; i++) same &= y[i] == z[i];

    /* Errors are codes and messages, never crashes. */
    bp_model *none = NULL;
    if (bp_model_load("no/such/file.safetensors", &none) != BP_ERR_IO) return 1;
    printf("expected error: %s\n", bp_last_error());
    if (bp_model_new(sizes, 3, (bp_activation)42, BP_HEAD_LOGISTIC, 0, &none) != BP_ERR_INVALID_ARGUMENT) return 1;
    if (bp_model_predict(again, NULL, 4, z) != BP_ERR_INVALID_ARGUMENT) return 1;
    bp_model_free(NULL);
    bp_trainer_free(NULL);
    bp_model_free(again);

    int ok = correct(y) == 4 && correct(z) == 4 && same;
    printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
