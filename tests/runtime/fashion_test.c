/* fashion_test.c - loads Debian's Fashion-MNIST (dataset-fashion-mnist) with
 * the IDX loader: 60000 training and 10000 test images of 28x28 = 784
 * pixels, 10 classes, pixels scaled into [0, 1].  Fails, saying what to
 * install, when the package is not (.ci/install-deps.sh installs it). */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "exa/data.h"

static void load(const char *dir, const char *prefix, int64_t want)
{
    char images[1024], labels[1024], err[512] = "";
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    ExaShape flat = {.rank = 1, .dim = {784}};
    ExaLoadOptions opt = {.scale = 1.0 / 255, .shape = &flat, .classes = 10};
    ExaDataset d;
    int rc = exa_data_load_idx(&d, images, labels, &opt, err, sizeof err);
    CHECK(rc == 0);
    if (rc) {
        printf("%s\n", err);
        return;
    }
    CHECK(d.n == want && d.features == 784 && d.classes == 10);
    CHECK(d.shape.rank == 1 && d.shape.dim[0] == 784);
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < d.n * d.features; i++) {
        float v = exa_data_feature(&d, i);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    CHECK(lo == 0.0f && hi == 1.0f);
    int64_t per_class[10] = {0};
    for (int64_t i = 0; i < d.n; i++)
        per_class[d.label[i]]++;
    for (int c = 0; c < 10; c++)
        CHECK(per_class[c] == want / 10); /* Fashion-MNIST is balanced */
    printf("%s: %lld samples, pixels in [%g, %g]\n", prefix, (long long)d.n, lo, hi);
    exa_data_free(&d);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", dir);
    if (access(probe, R_OK) != 0) {
        printf("FAIL: %s not found: run .ci/install-deps.sh (apt-get install dataset-fashion-mnist)\n",
               probe);
        return 1;
    }
    load(dir, "train", 60000);
    load(dir, "t10k", 10000);
    CHECK_DONE();
}
