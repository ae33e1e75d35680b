/* loader.c - reading a program's files and resolving its imports. */
#include "loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "parse.h"

static Module *find_module(Program *p, const char *name)
{
    for (int i = 0; i < p->nmodules; i++)
        if (strcmp(p->modules[i]->name, name) == 0)
            return p->modules[i];
    return NULL;
}

static Module *add_module(Program *p, const char *name, SourceFile *file, int is_stdlib)
{
    Module *m = arena_alloc(&p->arena, sizeof *m);
    m->name = arena_strdup(&p->arena, name);
    m->file = file;
    m->is_stdlib = is_stdlib;
    if (p->nmodules == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 8;
        Module **mods = arena_alloc(&p->arena, p->cap * sizeof *mods);
        if (p->nmodules)
            memcpy(mods, p->modules, p->nmodules * sizeof *mods);
        p->modules = mods;
    }
    p->modules[p->nmodules++] = m;
    return m;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir + "/" + name + ".exa" in the arena; dir "" means the current directory. */
static char *module_path(Arena *ar, const char *dir, size_t dirlen, const char *name)
{
    size_t n = dirlen + strlen(name) + 6;
    char *s = arena_alloc(ar, n + 1);
    if (dirlen)
        snprintf(s, n + 1, "%.*s/%s.exa", (int)dirlen, dir, name);
    else
        snprintf(s, n + 1, "%s.exa", name);
    return s;
}

/* Searches the import path for name.exa; *is_stdlib tells where it was found. */
static char *resolve(Program *p, const Module *from, const char *name,
                     const LoaderOptions *opt, int *is_stdlib)
{
    *is_stdlib = 0;
    const char *slash = strrchr(from->file->path, '/');
    char *path = slash ? module_path(&p->arena, from->file->path, slash - from->file->path, name)
                       : module_path(&p->arena, "", 0, name);
    if (is_file(path))
        return path;
    for (int i = 0; i < opt->ninclude; i++) {
        path = module_path(&p->arena, opt->include_dirs[i], strlen(opt->include_dirs[i]), name);
        if (is_file(path))
            return path;
    }
    const char *env = getenv("EXA_PATH");
    while (env && *env) {
        const char *colon = strchr(env, ':');
        size_t len = colon ? (size_t)(colon - env) : strlen(env);
        if (len) {
            path = module_path(&p->arena, env, len, name);
            if (is_file(path))
                return path;
        }
        env = colon ? colon + 1 : NULL;
    }
    if (opt->stdlib_dir) {
        path = module_path(&p->arena, opt->stdlib_dir, strlen(opt->stdlib_dir), name);
        if (is_file(path)) {
            *is_stdlib = 1;
            return path;
        }
    }
    return NULL;
}

static void load_imports(Program *p, Module *m, const LoaderOptions *opt, Diag *d)
{
    const NodeList *decls = &m->ast->list;
    for (int i = 0; i < decls->len; i++) {
        const Node *imp = decls->items[i];
        if (imp->kind != N_IMPORT)
            continue;
        Module *dep = find_module(p, imp->name);
        if (!dep) {
            int is_stdlib;
            char *path = resolve(p, m, imp->name, opt, &is_stdlib);
            if (!path) {
                diag_error(d, imp->span, "cannot find module '%s'", imp->name);
                diag_note_plain(d, "looked for '%s.exa' beside the importing file, in -I and "
                                   "EXA_PATH directories and in the stdlib (%s)",
                                imp->name, opt->stdlib_dir ? opt->stdlib_dir : "not found");
                continue;
            }
            SourceFile *f = source_load(&p->sources, path);
            if (!f) {
                diag_error(d, imp->span, "cannot read module '%s' (%s): %s", imp->name, path,
                           strerror(errno));
                continue;
            }
            dep = add_module(p, imp->name, f, is_stdlib);
            dep->ast = parse_file(f, &p->arena, d);
            load_imports(p, dep, opt, d);
        }
        Module **deps = arena_alloc(&p->arena, (m->nimports + 1) * sizeof *deps);
        if (m->nimports)
            memcpy(deps, m->imports, m->nimports * sizeof *deps);
        deps[m->nimports++] = dep;
        m->imports = deps;
    }
}

static char *base_name(Arena *ar, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".exa") == 0)
        len -= 4;
    return arena_strndup(ar, base, len);
}

/* Every program sees the stdlib's strategies (sapts, precond_lbfgs, ...) as if
 * it imported them: they are the built-in strategies, written in .exa. */
static void load_prelude(Program *p, const LoaderOptions *opt, Diag *d)
{
    static const char prelude[] = "strategies";
    if (!opt->stdlib_dir || find_module(p, prelude))
        return;
    char *path = module_path(&p->arena, opt->stdlib_dir, strlen(opt->stdlib_dir), prelude);
    SourceFile *f = source_load(&p->sources, path);
    if (!f)
        return; /* a missing stdlib shows up as unknown names, with their own errors */
    Module *m = add_module(p, prelude, f, 1);
    m->ast = parse_file(f, &p->arena, d);
    load_imports(p, m, opt, d);
    Module **deps = arena_alloc(&p->arena, (p->root->nimports + 1) * sizeof *deps);
    if (p->root->nimports)
        memcpy(deps, p->root->imports, p->root->nimports * sizeof *deps);
    deps[p->root->nimports++] = m;
    p->root->imports = deps;
}

static int load_root(Program *p, SourceFile *f, const LoaderOptions *opt, Diag *d)
{
    int before = d->errors;
    p->root = add_module(p, base_name(&p->arena, f->path), f, 0);
    p->root->ast = parse_file(f, &p->arena, d);
    load_imports(p, p->root, opt, d);
    load_prelude(p, opt, d);
    return d->errors > before;
}

int loader_load(Program *p, const char *path, const LoaderOptions *opt, Diag *d)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        diag_fatal_file(d, path, "not a regular file");
        return 1;
    }
    SourceFile *f = source_load(&p->sources, path);
    if (!f) {
        diag_fatal_file(d, path, "cannot read: %s", strerror(errno));
        return 1;
    }
    return load_root(p, f, opt, d);
}

int loader_load_memory(Program *p, const char *name, const char *text, size_t len,
                       const LoaderOptions *opt, Diag *d)
{
    return load_root(p, source_from_memory(&p->sources, name, text, len), opt, d);
}

void program_free(Program *p)
{
    source_set_free(&p->sources);
    arena_free(&p->arena);
    memset(p, 0, sizeof *p);
}
