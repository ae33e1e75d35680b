/* parser.y - the .exa grammar: a pure LALR(1) parser with locations.
 *
 * Each rule builds AST nodes (ast.h).  Errors are reported by
 * yyreport_syntax_error below as "unexpected X, expected Y"; recovery happens
 * at ';' inside bodies and at the next declaration keyword at top level, so a
 * run reports several errors.  docs/language.md is this grammar in prose. */
%define api.pure full
%define api.prefix {exa_yy}
%define api.location.type {Span}
%define parse.error custom
%define parse.lac full
%locations
%expect 0

%code requires {
#include "ast.h"
#include "source.h"
typedef void *yyscan_t;
struct ParseCtx;
}

%code provides {
int exa_yylex(EXA_YYSTYPE *lval, Span *loc, yyscan_t scanner);
}

%code {
#include <stdio.h>
#include <string.h>

#include "parse.h"

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                   \
    do {                                                              \
        if (N) {                                                      \
            (Cur) = span_join(YYRHSLOC(Rhs, 1), YYRHSLOC(Rhs, N));    \
        } else {                                                      \
            (Cur) = YYRHSLOC(Rhs, 0);                                 \
            (Cur).line = (Cur).end_line;                              \
            (Cur).col = (Cur).end_col;                                \
        }                                                             \
    } while (0)

#define NEW(kind, at) ast_new(ctx->arena, (kind), (at))
#define PUSH(list, n) ast_push(ctx->arena, &(list), (n))

/* Later passes recurse over expressions, so their depth is bounded here:
 * a long chain like a+a+...+a builds a deep tree without deep parser stack. */
enum { MAX_EXPR_DEPTH = 500 };

static Node *deepen(struct ParseCtx *ctx, Node *n, const Node *child)
{
    if (child && child->depth + 1 > n->depth)
        n->depth = child->depth + 1;
    if (n->depth == MAX_EXPR_DEPTH)
        diag_error(ctx->diag, n->span, "expression nested more than %d deep", MAX_EXPR_DEPTH);
    return n;
}

static Node *deepen_list(struct ParseCtx *ctx, Node *n, const NodeList *l)
{
    for (int i = 0; i < l->len; i++)
        deepen(ctx, n, l->items[i]);
    return n;
}

static Node *binary(struct ParseCtx *ctx, int op, Node *a, Node *b, Span at)
{
    Node *n = NEW(N_BINARY, at);
    n->op = op;
    n->a = a;
    n->b = b;
    deepen(ctx, n, a);
    return deepen(ctx, n, b);
}

/* A layer, fn or model: name, formals, result type, body. */
static Node *function(struct ParseCtx *ctx, NodeKind kind, Node *name, NodeList formals,
                      Node *result, NodeList body, Span at)
{
    Node *n = NEW(kind, at);
    n->name = name->name;
    n->span = name->span; /* diagnostics point at the name */
    n->list = formals;
    n->a = result;
    n->list2 = body;
    return n;
}

static void yyerror(const Span *loc, yyscan_t scanner, struct ParseCtx *ctx, const char *msg);
}

%lex-param {yyscan_t scanner}
%parse-param {yyscan_t scanner} {struct ParseCtx *ctx}

%union {
    Node *node;
    NodeList list;
}

%token <node> IDENT "identifier" INTLIT "integer" FLOATLIT "number" STRINGLIT "string"
%token <node> IMPORT "'import'" LAYER "'layer'" FN "'fn'" MODEL "'model'" PARAM "'param'"
%token <node> DATA "'data'" LOSS "'loss'" TRAIN "'train'" STRATEGY "'strategy'"
%token <node> REPEAT "'repeat'" FOR "'for'" IN "'in'" RETURN "'return'"
%token <node> INT "'int'" FLOAT "'float'" CLASS "'class'"
%token <node> SPLIT "'split'" LOCAL "'local'" COMBINE "'combine'" GLOBAL "'global'" COARSE "'coarse'"
%token <node> INTO "'into'" BY "'by'"
%token <node> ARROW "'->'" DOTDOT "'..'"
%token END_OF_FILE 0 "end of file"

%type <node> decl type formal field stmt setting strat_stmt block_decl
%type <node> expr primary call arg index opt_expr split_what primitive
%type <list> decls formals opt_formals fields block stmts settings strat_stmts
%type <list> args opt_args exprs opt_exprs indices dims

%left '+' '-'
%left '*' '/' '@'
%precedence NEG
%right '^'
%precedence '[' /* postfix indexing binds tightest */

%%

program
    : decls                     { ctx->program = NEW(N_PROGRAM, @$); ctx->program->list = $1; }
    ;

decls
    : %empty                    { $$ = (NodeList){0}; }
    | decls decl                { $$ = $1; if ($2) PUSH($$, $2); }
    ;

decl
    : IMPORT IDENT ';'          { $$ = NEW(N_IMPORT, @2); $$->name = $2->name; }
    | block_decl                { $$ = $1; }
    | DATA IDENT '=' call ARROW '(' fields ')' ';'
                                { $$ = NEW(N_DATA, @2); $$->name = $2->name; $$->a = $4; $$->list = $7; }
    | DATA TRAIN '=' call ARROW '(' fields ')' ';'
                                { $$ = NEW(N_DATA, @2); $$->name = "train"; $$->a = $4; $$->list = $7; }
    | LOSS '=' expr ';'         { $$ = NEW(N_LOSS, @1); $$->a = $3; }
    | TRAIN '{' settings '}'    { $$ = NEW(N_TRAIN, @1); $$->list = $3; }
    | STRATEGY IDENT '(' opt_formals ')' '{' strat_stmts '}'
                                { $$ = NEW(N_STRATEGY, @2); $$->name = $2->name;
                                  $$->list = $4; $$->list2 = $7; }
    | error ';'                 { $$ = NULL; yyerrok; }
    | error '}'                 { $$ = NULL; yyerrok; }
    ;

/* layer dense(x: [n], m: int) -> [m] { ... } */
block_decl
    : LAYER IDENT '(' opt_formals ')' ARROW type block
                                { $$ = function(ctx, N_LAYER, $2, $4, $7, $8, @$); }
    | FN IDENT '(' opt_formals ')' ARROW type block
                                { $$ = function(ctx, N_FN, $2, $4, $7, $8, @$); }
    | MODEL IDENT '(' opt_formals ')' ARROW type block
                                { $$ = function(ctx, N_MODEL, $2, $4, $7, $8, @$); }
    ;

opt_formals
    : %empty                    { $$ = (NodeList){0}; }
    | formals                   { $$ = $1; }
    ;

formals
    : formal                    { $$ = (NodeList){0}; PUSH($$, $1); }
    | formals ',' formal        { $$ = $1; PUSH($$, $3); }
    ;

/* x: [n]   m: int   steps: int = 5 */
formal
    : IDENT ':' type            { $$ = NEW(N_FORMAL, @1); $$->name = $1->name; $$->a = $3; }
    | IDENT ':' type '=' expr   { $$ = NEW(N_FORMAL, @1); $$->name = $1->name; $$->a = $3; $$->b = $5; }
    ;

fields
    : field                     { $$ = (NodeList){0}; PUSH($$, $1); }
    | fields ',' field          { $$ = $1; PUSH($$, $3); }
    ;

field
    : IDENT ':' type            { $$ = NEW(N_FIELD, @1); $$->name = $1->name; $$->a = $3; }
    ;

/* [m, n]   []   int   float   class(10) */
type
    : '[' ']'                   { $$ = NEW(N_TYPE_SHAPE, @$); }
    | '[' dims ']'              { $$ = NEW(N_TYPE_SHAPE, @$); $$->list = $2; }
    | INT                       { $$ = NEW(N_TYPE_INT, @$); }
    | FLOAT                     { $$ = NEW(N_TYPE_FLOAT, @$); }
    | CLASS '(' expr ')'        { $$ = NEW(N_TYPE_CLASS, @$); $$->a = $3; }
    ;

dims
    : expr                      { $$ = (NodeList){0}; PUSH($$, $1); }
    | dims ',' expr             { $$ = $1; PUSH($$, $3); }
    ;

block
    : '{' stmts '}'             { $$ = $2; }
    ;

stmts
    : %empty                    { $$ = (NodeList){0}; }
    | stmts stmt                { $$ = $1; if ($2) PUSH($$, $2); }
    ;

stmt
    : IDENT '=' expr ';'        { $$ = NEW(N_ASSIGN, @1); $$->name = $1->name; $$->a = $3; }
    | PARAM IDENT ':' type '=' expr ';'
                                { $$ = NEW(N_PARAM, @2); $$->name = $2->name; $$->a = $4; $$->b = $6; }
    | RETURN expr ';'           { $$ = NEW(N_RETURN, @1); $$->a = $2; }
    | REPEAT expr block         { $$ = NEW(N_REPEAT, @1); $$->a = $2; $$->list = $3; }
    | FOR IDENT IN expr DOTDOT expr block
                                { $$ = NEW(N_FOR, @1); $$->name = $2->name; $$->a = $4; $$->b = $6;
                                  $$->list = $7; }
    | error ';'                 { $$ = NULL; yyerrok; }
    ;

settings
    : %empty                    { $$ = (NodeList){0}; }
    | settings setting          { $$ = $1; if ($2) PUSH($$, $2); }
    ;

/* epochs = 5;   data = train; */
setting
    : IDENT '=' expr ';'        { $$ = NEW(N_ASSIGN, @1); $$->name = $1->name; $$->a = $3; }
    | DATA '=' expr ';'         { $$ = NEW(N_ASSIGN, @1); $$->name = "data"; $$->a = $3; }
    | error ';'                 { $$ = NULL; yyerrok; }
    ;

strat_stmts
    : %empty                    { $$ = (NodeList){0}; }
    | strat_stmts strat_stmt    { $$ = $1; if ($2) PUSH($$, $2); }
    ;

/* split data into ranks;   split params by stage into ranks;
 * local lbfgs(steps: 10);  combine additive;  global trust_region(radius: 0.01);
 * coarse lbfgs(steps: 5) multiplicative;  (the form is additive when left out)
 * coarse lbfgs(steps: 5) additive(cfactor: 3, prolong: linear);  (the hierarchy's options) */
strat_stmt
    : SPLIT split_what INTO expr ';'
                                { $$ = NEW(N_SPLIT, @1); $$->name = $2->name; $$->a = $4; }
    | SPLIT split_what BY IDENT INTO expr ';'
                                { $$ = NEW(N_SPLIT, @1); $$->name = $2->name; $$->b = $4; $$->a = $6; }
    | SPLIT split_what BY LAYER INTO expr ';'
                                { $$ = NEW(N_SPLIT, @1); $$->name = $2->name; $$->b = $4;
                                  $$->b->kind = N_NAME; $$->b->name = "layer"; $$->a = $6; }
    | LOCAL expr ';'            { $$ = NEW(N_LOCAL, @1); $$->a = $2; }
    | COMBINE expr ';'          { $$ = NEW(N_COMBINE, @1); $$->a = $2; }
    | GLOBAL expr ';'           { $$ = NEW(N_GLOBAL, @1); $$->a = $2; }
    | COARSE expr ';'           { $$ = NEW(N_COARSE, @1); $$->a = $2; $$->name = "additive"; }
    | COARSE expr IDENT ';'     { $$ = NEW(N_COARSE, @1); $$->a = $2; $$->b = $3; $$->name = $3->name; }
    | COARSE expr call ';'      { $$ = NEW(N_COARSE, @1); $$->a = $2; $$->b = $3; $$->name = $3->name; }
    | error ';'                 { $$ = NULL; yyerrok; }
    ;

split_what
    : DATA                      { $$ = $1; $$->name = "data"; }
    | IDENT                     { $$ = $1; }
    ;

expr
    : expr '+' expr             { $$ = binary(ctx, '+', $1, $3, @2); }
    | expr '-' expr             { $$ = binary(ctx, '-', $1, $3, @2); }
    | expr '*' expr             { $$ = binary(ctx, '*', $1, $3, @2); }
    | expr '/' expr             { $$ = binary(ctx, '/', $1, $3, @2); }
    | expr '@' expr             { $$ = binary(ctx, '@', $1, $3, @2); }
    | expr '^' expr             { $$ = binary(ctx, '^', $1, $3, @2); }
    | '-' expr %prec NEG        { $$ = NEW(N_UNARY, @$); $$->op = '-'; $$->a = $2; deepen(ctx, $$, $2); }
    | expr '[' indices ']'      { $$ = NEW(N_INDEX, @$); $$->a = $1; $$->list = $3;
                                  deepen(ctx, $$, $1); deepen_list(ctx, $$, &$3); }
    | primary                   { $$ = $1; }
    ;

primary
    : INTLIT                    { $$ = $1; }
    | FLOATLIT                  { $$ = $1; }
    | STRINGLIT                 { $$ = $1; }
    | IDENT                     { $$ = $1; }
    | TRAIN                     { $$ = $1; $$->kind = N_NAME; $$->name = "train"; }
    | LAYER                     { $$ = $1; $$->kind = N_NAME; $$->name = "layer"; } /* params(by: layer) */
    | call                      { $$ = $1; }
    | '(' expr ')'              { $$ = $2; }
    | '[' opt_exprs ']'         { $$ = NEW(N_LIST, @$); $$->list = $2; deepen_list(ctx, $$, &$2); }
    ;

/* f(a, b, name: value); data(...) names the built-in data-parallel strategy */
call
    : IDENT '(' opt_args ')'    { $$ = NEW(N_CALL, @$); $$->name = $1->name; $$->list = $3;
                                  deepen_list(ctx, $$, &$3); }
    | DATA '(' opt_args ')'     { $$ = NEW(N_CALL, @$); $$->name = "data"; $$->list = $3;
                                  deepen_list(ctx, $$, &$3); }
    ;

opt_args
    : %empty                    { $$ = (NodeList){0}; }
    | args                      { $$ = $1; }
    ;

args
    : arg                       { $$ = (NodeList){0}; PUSH($$, $1); }
    | args ',' arg              { $$ = $1; PUSH($$, $3); }
    ;

arg
    : expr                      { $$ = $1; }
    | IDENT ':' expr            { $$ = NEW(N_NAMED_ARG, @1); $$->name = $1->name; $$->a = $3;
                                  deepen(ctx, $$, $3); }
    | primitive ':' expr        { $$ = NEW(N_NAMED_ARG, @1); $$->name = $1->name; $$->a = $3;
                                  deepen(ctx, $$, $3); }
    ;

/* The strategy primitives may name arguments of the built-in strategies:
 * params(by: stage, local: lbfgs(steps: 10), combine: additive, global: lbfgs()) */
primitive
    : SPLIT                     { $$ = $1; }
    | LOCAL                     { $$ = $1; }
    | COMBINE                   { $$ = $1; }
    | GLOBAL                    { $$ = $1; }
    | BY                        { $$ = $1; }
    ;

opt_exprs
    : %empty                    { $$ = (NodeList){0}; }
    | exprs                     { $$ = $1; }
    ;

exprs
    : expr                      { $$ = (NodeList){0}; PUSH($$, $1); }
    | exprs ',' expr            { $$ = $1; PUSH($$, $3); }
    ;

indices
    : index                     { $$ = (NodeList){0}; PUSH($$, $1); }
    | indices ',' index         { $$ = $1; PUSH($$, $3); }
    ;

/* x[i]   x[a:b]   x[:, 0] */
index
    : expr                      { $$ = $1; }
    | opt_expr ':' opt_expr     { $$ = NEW(N_SLICE, @$); $$->a = $1; $$->b = $3;
                                  deepen(ctx, $$, $1); deepen(ctx, $$, $3); }
    ;

opt_expr
    : %empty                    { $$ = NULL; }
    | expr                      { $$ = $1; }
    ;

%%

/* The name of a token as users know it: "identifier", ';', 'layer'. */
static const char *token_desc(yysymbol_kind_t sym, char *buf, size_t n)
{
    const char *s = yysymbol_name(sym);
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        snprintf(buf, n, "%.*s", (int)(len - 2), s + 1);
        return buf;
    }
    return s;
}

/* True for the tokens that can start an expression: a message lists them as
 * "expression" rather than one by one. */
/* Character tokens have no stable symbol numbers, so they are found by name. */
static int is_char_token(yysymbol_kind_t sym, const char *chars)
{
    const char *name = yysymbol_name(sym);
    return name[0] == '\'' && name[1] && name[2] == '\'' && strchr(chars, name[1]);
}

/* True for the tokens that can start an expression: a message lists them as
 * "expression" rather than one by one. */
static int starts_expression(yysymbol_kind_t sym)
{
    switch (sym) {
    case YYSYMBOL_IDENT: case YYSYMBOL_INTLIT: case YYSYMBOL_FLOATLIT:
    case YYSYMBOL_STRINGLIT: case YYSYMBOL_TRAIN: case YYSYMBOL_DATA: case YYSYMBOL_LAYER:
        return 1;
    default:
        return 0;
    }
}

/* True for binary operators and '[': after a complete operand any of them may
 * follow, which is never the helpful part of a message. */
static int is_operator(yysymbol_kind_t sym)
{
    return is_char_token(sym, "+-*/@^[(");
}

static int yyreport_syntax_error(const yypcontext_t *pctx, yyscan_t scanner, struct ParseCtx *ctx)
{
    (void)scanner;
    yysymbol_kind_t got = yypcontext_token(pctx);
    if (got == YYSYMBOL_YYEOF && ctx->eof_reported)
        return 0; /* an unterminated comment already said why the file ended */
    yysymbol_kind_t expected[YYNTOKENS];
    int n = yypcontext_expected_tokens(pctx, expected, YYNTOKENS);
    const Span *at = yypcontext_location(pctx);
    char gotbuf[64], msg[512];
    size_t len = (size_t)snprintf(msg, sizeof msg, "unexpected %s", token_desc(got, gotbuf, sizeof gotbuf));

    /* Summarise: the expression-start tokens become "expression", and the
     * binary operators are left out when something else is expected too. */
    const char *names[YYNTOKENS];
    char bufs[YYNTOKENS][64];
    int count = 0, expression = 0, operators = 0, others = 0;
    for (int i = 0; i < n; i++) {
        if (starts_expression(expected[i]))
            expression = 1;
        else if (is_operator(expected[i]))
            operators++;
        else
            others++;
    }
    if (expression)
        names[count++] = "expression";
    for (int i = 0; i < n; i++) {
        if (starts_expression(expected[i]) || (expression && is_char_token(expected[i], "([-"))
            || (is_operator(expected[i]) && (others || expression)))
            continue;
        names[count] = token_desc(expected[i], bufs[count], sizeof bufs[count]);
        count++;
    }
    if (count > 0 && count <= 5) {
        len += (size_t)snprintf(msg + len, sizeof msg - len, ", expected ");
        for (int i = 0; i < count && len < sizeof msg; i++) {
            const char *sep = i == 0 ? "" : i == count - 1 ? " or " : ", ";
            len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", sep, names[i]);
        }
    }
    diag_error(ctx->diag, *at, "%s", msg);
    /* Point at the bracket a premature end of file leaves open. */
    if (got == YYSYMBOL_YYEOF && ctx->nopen > 0) {
        const OpenBracket *o = &ctx->open[ctx->nopen - 1];
        diag_note(ctx->diag, o->at, "to match this '%c'", o->ch);
    }
    (void)operators;
    return 0;
}

static void yyerror(const Span *loc, yyscan_t scanner, struct ParseCtx *ctx, const char *msg)
{
    (void)scanner;
    /* bison's stack holds the operators and brackets not yet reduced; the
     * scanner bounds brackets and unary minus, this catches the rest (a^a^...) */
    if (strcmp(msg, "memory exhausted") == 0) {
        if (!ctx->too_deep)
            diag_error(ctx->diag, *loc, "expression nested too deeply: the parser's stack of %d symbols is full",
                       YYMAXDEPTH);
        ctx->too_deep = 1;
        return;
    }
    diag_error(ctx->diag, *loc, "%s", msg);
}
