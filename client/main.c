/*
 * twin: the command-line client of twind.  Global options, then a
 * subcommand looked up in the table below; each subcommand parses the rest
 * of the line itself (global options are accepted there too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const tw_cmd *const commands[] = {
    &tw_cmd_status, &tw_cmd_publish, &tw_cmd_delete, &tw_cmd_list, &tw_cmd_show,
    &tw_cmd_search, &tw_cmd_stats, &tw_cmd_gaps, &tw_cmd_report, &tw_cmd_digest, &tw_cmd_export, &tw_cmd_import,
    &tw_cmd_peers, &tw_cmd_sync, &tw_cmd_bundle, &tw_cmd_key, &tw_cmd_invite, &tw_cmd_join,
    &tw_cmd_vouch, &tw_cmd_revoke, &tw_cmd_members, &tw_cmd_device, &tw_cmd_ui,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const tw_cmd *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

static void general_help(FILE *f)
{
    fputs("usage: twin [--data-dir DIR | --socket PATH] [--json] SUBCOMMAND [ARGS...]\n\n"
          "twin queries and drives the local twind node over its control socket.\n\n"
          "Subcommands:\n", f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
    fputs("  help     list subcommands, or `twin help SUBCOMMAND` for one\n\n"
          "Options:\n"
          "  --data-dir DIR  data directory of twind (default $XDG_DATA_HOME/twind,\n"
          "                  else ~/.local/share/twind); the socket is DIR/twind.sock\n"
          "  --socket PATH   control socket (default $TWIN_SOCKET, else in the data dir)\n"
          "  --json          machine-readable JSON output\n\n"
          "Every subcommand has --help.  Exit status: 0 ok, 1 error, 2 usage.\n", f);
}

int main(int argc, char **argv)
{
    tw_cli cli;
    int first;
    tw_cli_init(&cli, isatty(STDOUT_FILENO) == 1, getenv("COLUMNS"));
    int rc = tw_cli_globals(&cli, argc, argv, &first);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (first < 0) { general_help(stdout); return TW_EXIT_OK; }
    if (first >= argc) return tw_cli_usage(NULL, "missing subcommand");
    const char *name = argv[first];
    if (strcmp(name, "help") == 0) {
        if (first + 1 < argc) {
            const tw_cmd *c = find(argv[first + 1]);
            if (!c) return tw_cli_usage(NULL, "unknown subcommand '%s'", argv[first + 1]);
            tw_cli_print_help(c);
        } else {
            general_help(stdout);
        }
        return TW_EXIT_OK;
    }
    const tw_cmd *cmd = find(name);
    if (!cmd) return tw_cli_usage(NULL, "unknown subcommand '%s'", name);
    rc = cmd->run(&cli, argc - first, argv + first);
    tw_cli_close(&cli);
    if (fflush(stdout) != 0 && rc == TW_EXIT_OK) rc = TW_EXIT_ERR;
    return rc;
}
