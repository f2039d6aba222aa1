/* CLI: `vldoc` entry point; dispatches to the subcommand named by the
 * first argument, or converts when the first argument is not one. */
#include "config.h"

#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
} commands[] = {
    { "convert", cli_convert_main },   { "render", cli_render_main },
    { "generate", cli_generate_main }, { "pull", cli_pull_main },
    { "serve", cli_serve_main },       { "quantize", cli_quantize_main },
};

int main(int argc, char **argv)
{
    if (argc > 1)
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
            if (strcmp(argv[1], commands[i].name) == 0)
                return commands[i].main(argc - 1, argv + 1);
    return cli_convert_main(argc, argv);
}
