package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

func newApplyCmd(o *daemonOptions) *cobra.Command {
	var (
		file     string
		prune    bool
		selector string
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--prune -l SELECTOR]",
		Short: "Create or update listeners to match a YAML or JSON file",
		Long: `Apply makes the daemon's listeners what FILE says. FILE ("-": standard input)
is YAML (one document) or JSON: a list of listeners, {"listeners": [...]}, or
one listener, each in the JSON of the REST API's bodies, as listeners get -o
yaml and list -o yaml write them: field names in lowerCamelCase or as in the
.proto, enums by their full names (HANDLER_UPPER), times in RFC 3339, and
durations in seconds as the API writes them ("30s", "3600s") or as Go does
("10m", "1h30m", "500ms"), in ttl, limits.headerTimeout, limits.idleTimeout,
exec.timeout and any other duration field. Every listener needs an id, and
one apply creates needs a transport and an address, as the REST API's POST
does.

For each listener, in the file's order, apply gets it by id:

  created ID     it did not exist: created as the file says
  unchanged ID   every field the file states already holds
  updated ID     updated, in place, with a mask of the fields the file states

Only the fields the file states are compared and changed, one by one within
framing, exec, capture and limits: a field left out keeps what the listener
has (the daemon's default, for one created), and a null states nothing.
labels is compared and replaced whole. Values are compared as the daemon
reads them: "660" and "0660" are one unixMode, "10m" and "600s" one duration.
A field the file gives as its zero value (0, "", HANDLER_UNSPECIFIED) asks
for the daemon's default, which get shows filled in: apply sends the update,
and says unchanged when the daemon finds nothing to change (the etag stays).
etag and status are output only and ignored, so the output of get -o json
applies too. The update carries the etag the get showed: a listener changed
in between fails, and is not overwritten.

ttl counts from the call that sets it, so apply sends it when it creates the
listener, and after that only when the listener has no expiry or would
outlive now + ttl (the file's ttl was added or shortened); it never extends
an expiry, so applying the same file again changes nothing however late.
To extend one, use listeners update ID --ttl, or give an expireTime.

With --prune -l SELECTOR, the listeners the selector matches that the file
does not name are deleted afterwards, in id order, each with a line
"deleted ID". Nothing is pruned when a listener of the file could not be
read, as it may name one that would be.

A second apply of the same file prints only unchanged lines. A failure names
the file and the listener (its index in the file's list and its id); apply
goes on with the others and exits non-zero at the end. -o is not for apply:
it prints these lines.

In YAML, quote the strings YAML would read as something else: a unixMode
such as "0660", a label value such as "yes" or "1".`,
		Example: `  sockctl apply -f listeners.yaml
  sockctl listeners get web -o yaml > web.yaml && sockctl apply -f web.yaml
  sockctl listeners list -l env=ci -o yaml | sockctl apply -f -
  sockctl apply -f ci.yaml --prune -l env=ci`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{outputAnnotation: "table"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case file == "":
				return fmt.Errorf("give the file to apply with -f FILE (-f - for standard input)")
			case prune && selector == "":
				return fmt.Errorf("--prune needs -l SELECTOR: the listeners it may delete")
			case selector != "" && !prune:
				return fmt.Errorf("-l SELECTOR is for --prune")
			}
			name, data, err := readInput(cmd.InOrStdin(), file)
			if err != nil {
				return err
			}
			ls, readErrs := readSpecFile(name, data)
			if len(ls) == 0 {
				return errors.Join(readErrs...)
			}
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				a := applier{d: d, w: p.w, file: name}
				errs := readErrs
				for _, fl := range ls {
					errs = append(errs, a.apply(ctx, fl))
				}
				switch {
				case !prune:
				case len(readErrs) > 0:
					errs = append(errs, fmt.Errorf("%s: not pruning: %d listeners of the file could not be read", name, len(readErrs)))
				default:
					errs = append(errs, a.prune(ctx, selector, ls))
				}
				return errors.Join(errs...)
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "filename", "f", "", "the YAML or JSON `FILE` of listeners; - for standard input")
	f.BoolVar(&prune, "prune", false, "delete the listeners that -l selects and the file does not name")
	f.StringVarP(&selector, "selector", "l", "", "with --prune: the listeners it may delete, a label `SELECTOR` such as env=ci")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, callTimeoutHelp)
	return cmd
}

// readInput reads file, or standard input for "-", and returns the name
// errors give it.
func readInput(stdin io.Reader, file string) (string, []byte, error) {
	if file == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return "", nil, fmt.Errorf("read standard input: %w", err)
		}
		return "stdin", data, nil
	}
	data, err := os.ReadFile(file)
	return file, data, err
}

// applier applies the listeners of one file.
type applier struct {
	d    *daemonClient
	w    io.Writer
	file string
}

// apply creates, updates or leaves alone one listener of the file, and
// prints what it did.
func (a *applier) apply(ctx context.Context, fl fileListener) error {
	id := fl.l.GetId()
	wrap := func(err error) error { return &fileError{file: a.file, index: fl.index, id: id, err: err} }
	got, err := call(ctx, a.d, a.d.ls.GetListener, &sockplanev1.GetListenerRequest{Id: id})
	switch {
	case status.Code(err) == codes.NotFound:
		l := proto.CloneOf(fl.l)
		l.Etag, l.Status = "", nil
		if _, err := call(ctx, a.d, a.d.ls.CreateListener, &sockplanev1.CreateListenerRequest{Listener: l}); err != nil {
			return wrap(err)
		}
		return a.say("created", id)
	case err != nil:
		return wrap(err)
	}
	current := got.GetListener()
	mask, changed, err := diff(fl, current)
	if err != nil {
		return wrap(err)
	}
	l := proto.CloneOf(fl.l)
	l.Etag, l.Status = current.GetEtag(), nil
	if ttlDue(fl.l.GetTtl(), current.GetExpireTime(), time.Now()) {
		mask.Paths = append(mask.Paths, "ttl")
		changed = true
	} else {
		l.Ttl = nil
	}
	if !changed {
		return a.say("unchanged", id)
	}
	resp, err := call(ctx, a.d, a.d.ls.UpdateListener, &sockplanev1.UpdateListenerRequest{Listener: l, UpdateMask: mask})
	if err != nil {
		return wrap(err)
	}
	updated, err := changedBy(fl, current, resp.GetListener())
	if err != nil {
		return wrap(err)
	}
	if !updated {
		return a.say("unchanged", id)
	}
	return a.say("updated", id)
}

// ttlClockSlack is how much later than now + ttl an expiry may be before
// apply takes it for one a file's shorter ttl should pull in: room for
// the clocks of sockctl and the daemon to differ.
const ttlClockSlack = 2 * time.Second

// ttlDue reports whether apply sends the ttl a file states to a listener
// that exists and expires at expire (nil: never): when it would expire
// later than now + ttl. ttl counts from the call that sets it, so sending
// it on every apply would extend the listener's life each time; this
// never extends, and sends what a file adds or shortens. An invalid ttl
// is sent, for the daemon to refuse.
func ttlDue(ttl *durationpb.Duration, expire *timestamppb.Timestamp, now time.Time) bool {
	switch {
	case ttl == nil:
		return false
	case ttl.CheckValid() != nil || ttl.AsDuration() <= 0 || expire == nil:
		return true
	}
	return expire.AsTime().After(now.Add(ttl.AsDuration() + ttlClockSlack))
}

// changedBy reports whether the update that turned before into after
// changed the listener. The daemon bumps the etag on every change of the
// desired state and keeps it when an update changes nothing, which is
// what an update of a field to its zero value does when the default it
// stands for is what runs; without etags, the fields the file states
// tell.
func changedBy(fl fileListener, before, after *sockplanev1.Listener) (bool, error) {
	if before.GetEtag() != "" && after.GetEtag() != "" {
		return before.GetEtag() != after.GetEtag(), nil
	}
	if !proto.Equal(before.GetExpireTime(), after.GetExpireTime()) {
		return true, nil
	}
	for _, p := range fl.paths {
		same, err := sameAt(p, before, after)
		if err != nil || !same {
			return err == nil, err
		}
	}
	return false, nil
}

// diff returns the update mask of the fields fl states, and whether any
// of them differs from current's.
func diff(fl fileListener, current *sockplanev1.Listener) (*fieldmaskpb.FieldMask, bool, error) {
	mask := &fieldmaskpb.FieldMask{}
	changed := false
	for _, p := range fl.paths {
		mask.Paths = append(mask.Paths, p.String())
		same, err := sameAt(p, fl.l, current)
		if err != nil {
			return nil, false, err
		}
		changed = changed || !same
	}
	return mask, changed, nil
}

// prune deletes the listeners selector matches that ls does not name.
func (a *applier) prune(ctx context.Context, selector string, ls []fileListener) error {
	matched, err := listAll(ctx, a.d, selector)
	if err != nil {
		return fmt.Errorf("--prune -l %s: %w", selector, err)
	}
	named := make(map[string]bool, len(ls))
	for _, fl := range ls {
		named[fl.l.GetId()] = true
	}
	var errs []error
	for _, l := range matched {
		if named[l.GetId()] {
			continue
		}
		if _, err := call(ctx, a.d, a.d.ls.DeleteListener, &sockplanev1.DeleteListenerRequest{Id: l.GetId(), Etag: l.GetEtag()}); err != nil {
			errs = append(errs, fmt.Errorf("prune %s: %w", l.GetId(), err))
			continue
		}
		errs = append(errs, a.say("deleted", l.GetId()))
	}
	return errors.Join(errs...)
}

func (a *applier) say(what, id string) error {
	_, err := fmt.Fprintf(a.w, "%s %s\n", what, id)
	return err
}
