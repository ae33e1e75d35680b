/* loader.h - a program is its root file plus every module it imports.
 *
 * `import nn;` looks for nn.exa in, in order: the importing file's directory,
 * each -I directory, each directory of EXA_PATH (colon-separated), and the
 * stdlib directory found relative to exac itself.  Each module is loaded and
 * parsed once, whatever the number of imports that name it.  Imports are
 * transitive.  The root module also imports the stdlib's `strategies`
 * implicitly (the prelude). */
#ifndef EXA_LOADER_H
#define EXA_LOADER_H

#include "ast.h"
#include "diag.h"
#include "source.h"

typedef struct Module {
    const char *name;       /* import name; the root file's base name */
    SourceFile *file;
    Node *ast;              /* N_PROGRAM */
    int is_stdlib;          /* found in the stdlib directory */
    struct Module **imports; /* modules this one imports, in order */
    int nimports;
} Module;

typedef struct Program {
    Arena arena;
    SourceSet sources;
    Module **modules;       /* root first, then imports as first met */
    int nmodules, cap;
    Module *root;
} Program;

typedef struct LoaderOptions {
    const char **include_dirs; /* -I, in command-line order */
    int ninclude;
    const char *stdlib_dir;    /* may be NULL */
} LoaderOptions;

/* Loads path and its imports into p (zero it first).  Returns 0 when every
 * file was read and parsed without error; diagnostics went to d. */
int loader_load(Program *p, const char *path, const LoaderOptions *opt, Diag *d);
/* The same, with the root file's text given (fuzzing, tests). */
int loader_load_memory(Program *p, const char *name, const char *text, size_t len,
                       const LoaderOptions *opt, Diag *d);
void program_free(Program *p);

#endif
