# Runs one Citadel homeserver for SyTest: writes its TOML configuration and a TLS
# certificate signed by SyTest's test CA, then starts the binary. The client API and
# federation are both served on the TLS port (server name localhost:<port>); a plain
# HTTP port is opened too. Rate limits are off and registration is open, as SyTest
# expects of the servers it drives; federation trusts SyTest's CA and nothing else.
use strict;
use warnings;

package SyTest::Homeserver::Citadel;
use base qw( SyTest::Homeserver );

use Carp;
use Cwd qw( getcwd abs_path );
use File::Path qw( remove_tree );
use SyTest::SSL qw( ensure_ssl_key create_ssl_cert );

# SyTest's admin tests sign shared-secret registrations with "reg_secret", but Citadel
# wants a secret of 16 characters or more (a deliberate deviation, listed in the
# README), so those registrations fail. CITADEL_SYTEST_SHARED_SECRET overrides it.
use constant REGISTRATION_SHARED_SECRET => "sytest-registration-secret";

sub _init
{
   my $self = shift;
   my ( $args ) = @_;

   $self->{binary} = delete $args->{binary};
   defined $self->{binary} or croak "Need a binary";

   $self->SUPER::_init( $args );

   my $idx = $self->{hs_index};
   $self->{ports} = {
      secure   => main::alloc_port( "citadel[$idx]" ),
      unsecure => main::alloc_port( "citadel[$idx].unsecure" ),
   };
}

sub server_name
{
   my $self = shift;
   return $self->{bind_host} . ":" . $self->{ports}{secure};
}

sub federation_host { $_[0]{bind_host} }
sub federation_port { $_[0]{ports}{secure} }
sub secure_port     { $_[0]{ports}{secure} }
sub unsecure_port   { $_[0]{ports}{unsecure} }

sub public_baseurl
{
   my $self = shift;
   return "https://$self->{bind_host}:$self->{ports}{secure}";
}

# The address Citadel binds: an IP literal (SyTest's default bind host is "localhost").
sub _bind_ip
{
   my $self = shift;
   my $host = $self->{bind_host};
   return $host eq "localhost" ? "127.0.0.1" : $host;
}

sub _toml_string
{
   my ( $value ) = @_;
   $value =~ s/(["\\])/\\$1/g;
   return "\"$value\"";
}

sub _config
{
   my $self = shift;

   my $ip = $self->_bind_ip;
   my $ca = _toml_string( abs_path( getcwd() . "/keys/ca.crt" ) );
   my %q = map { $_ => _toml_string( $self->{paths}{$_} ) } keys %{ $self->{paths} };
   my $server_name = _toml_string( $self->server_name );
   my $baseurl = _toml_string( $self->public_baseurl . "/" );
   my $secret = _toml_string( $ENV{CITADEL_SYTEST_SHARED_SECRET} // REGISTRATION_SHARED_SECRET );

   return <<"TOML";
server_name = $server_name
public_baseurl = $baseurl
data_dir = $q{data_dir}
log = "warn"

[http]
bind = ["$ip:$self->{ports}{unsecure}"]
max_unauthenticated_requests = 4096

[tls]
bind = "$ip:$self->{ports}{secure}"
certificate = $q{cert_file}
private_key = $q{key_file}

[registration]
mode = "open"
allow_guests = true
shared_secret = $secret

[rate_limits]
enabled = false

[e2ee]
enforce = "off"
# SyTest uploads placeholder device keys and backup auth_data (as Synapse accepts).
strict_key_uploads = false

[federation]
enabled = true
verify_tls = true
extra_ca_certificates = [$ca]
max_retry_interval_secs = 5
TOML
}

sub start
{
   my $self = shift;

   my $hs_dir = $self->{hs_dir};
   my $output = $self->{output};
   my $idx = $self->{hs_index};

   # Every run starts from an empty server, as SyTest's tests assume.
   remove_tree( "$hs_dir/data" ) if -d "$hs_dir/data";

   $self->{paths}{data_dir} = "$hs_dir/data";
   $self->{paths}{cert_file} = "$hs_dir/tls.crt";
   $self->{paths}{key_file} = "$hs_dir/tls.key";
   ensure_ssl_key( $self->{paths}{key_file} );
   create_ssl_cert( $self->{paths}{cert_file}, $self->{paths}{key_file}, $self->{bind_host} );

   my $config = $self->{paths}{config} = $self->write_file( "citadel.toml" => $self->_config );

   my @command = ( $self->{binary}, "--config", $config );
   $output->diag( "Starting Citadel $idx: @command" );

   return $self->_start_process_and_await_connectable(
      setup => [
         env => { %ENV, RUST_BACKTRACE => "1" },
      ],
      command => \@command,
      connect_host => $self->{bind_host},
      connect_port => $self->{ports}{secure},
      name => "citadel-$idx",
   )->else( sub {
      die "Unable to start Citadel $idx: $_[0]\n";
   })->on_done( sub {
      $output->diag( "Started Citadel $idx" );
   });
}

1;
