/* EC2's XML answers (common/cloud/aws_ec2.c): the bounded reader over any
 * bytes (root, every child walked to a few levels, each element's text,
 * paths the backends read) and the error document parser. The reader works
 * on a copy exactly as long as the input (no NUL after it), so ASan sees a
 * read past the range. */
#include "fuzz.h"
#include "sockerless/aws.h"
#include "sockerless/aws_ec2.h"

#include "../../common/cloud/aws_int.h"

/* Walks every child of r down to depth, reading each one's text. */
static void
fuzz_walk(const struct aws_xml *r, int depth)
{
	struct aws_xml it = *r, child;
	char name[64], text[256];
	int n = 0;

	while (n++ < 64 && aws_xml_next(&it, &child, name, sizeof(name)) == 1) {
		if (memchr(name, '\0', sizeof(name)) == NULL)
			abort();
		aws_xml_text(&child, text, sizeof(text));
		if (memchr(text, '\0', sizeof(text)) == NULL)
			abort();
		if (depth > 0)
			fuzz_walk(&child, depth - 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "groupId",
		"securityGroupInfo/item/groupId", "subnetSet/item/vpcId",
		"securityGroupInfo/item/tagSet/item/value",
		"Errors/Error/Code" };
	char *copy = malloc(size > 0 ? size : 1), code[128], msg[1024],
	     rid[128], v[64];
	struct aws_xml root;
	struct aws_error ae;
	struct err e;

	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	if (aws_xml_root(copy, size, &root, v, sizeof(v)) == 0) {
		fuzz_walk(&root, 4);
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
			aws_xml_get(&root, paths[i], v, sizeof(v));
	}
	aws_xml_error(
	    copy, size, code, sizeof(code), msg, sizeof(msg), rid, sizeof(rid));
	free(copy);
	/* The error path the cloud core takes (NUL-terminated there). */
	copy = fuzz_str(data, size);
	aws_parse_error(400, copy, size, NULL, &ae);
	aws_error_to_err(&ae, &e);
	free(copy);
	return 0;
}
